using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using FluentValidation;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AiMesh.Validation;

public static class ValidationServiceExtensions
{
    public static IHostApplicationBuilder AddValidation(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ValidationLimits>().BindConfiguration(ValidationLimits.Section);
        builder.Services.TryAddSingleton(sp => sp.GetRequiredService<IOptions<ValidationLimits>>().Value);
        builder.Services.TryAddSingleton<IValidator<ChatCompletionRequest>, ChatCompletionRequestValidator>();
        builder.Services.TryAddSingleton<ValidationService>();
        return builder;
    }

    /// <summary>The service-invocation surface (Dapr mode): one route per typed-client call.</summary>
    public static IEndpointRouteBuilder MapValidation(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost(ServiceRoutes.ValidateChat, (ChatValidationRequest body, ValidationService service, CancellationToken cancellationToken) =>
                service.ValidateChatAsync(body.Request, body.Policy, cancellationToken))
            .ExcludeFromDescription();
        endpoints.MapPost(ServiceRoutes.ValidateEmbeddings, (EmbeddingsValidationRequest body, ValidationService service, CancellationToken cancellationToken) =>
                service.ValidateEmbeddingsAsync(body.Request, body.Policy, cancellationToken))
            .ExcludeFromDescription();
        return endpoints;
    }
}
