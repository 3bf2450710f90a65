using AiMesh.Embedded;
using AiMesh.ServiceDefaults;
using Microsoft.Extensions.Options;

// Embedded mode: `dotnet run --project services/embedded` — nothing else to install or start.
try
{
    await EmbeddedHost.Build(args).RunAsync();
    return 0;
}
catch (Exception exception) when (exception is OptionsValidationException or InvalidSettingException)
{
    // A setting is wrong: say which, without a stack trace.
    var messages = exception is OptionsValidationException validation ? validation.Failures : [exception.Message];
    await Console.Error.WriteLineAsync("AiMesh cannot start:");
    foreach (var message in messages)
    {
        await Console.Error.WriteLineAsync($"  - {message}");
    }

    return 1;
}
