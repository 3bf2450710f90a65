using AiMesh.BuildingBlocks.Secrets;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter;
using AiMesh.ProviderAdapter.Catalog;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.Providers;

/// <summary>The provider types in the catalog: environment shortcuts, validation of the new settings, capabilities.</summary>
public sealed class ProviderCatalogTests
{
    private sealed class NoSecrets : ISecretStore
    {
        public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken) => Task.FromResult<string?>(null);
    }

    private static IHost Host(Dictionary<string, string?> settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton<ISecretStore, NoSecrets>();
        builder.AddProviderAdapter();
        return builder.Build();
    }

    private static IReadOnlyList<DeploymentConfig> Deployments(Dictionary<string, string?> settings)
    {
        using var host = Host(settings);
        return host.Services.GetRequiredService<ProviderCatalog>().Deployments;
    }

    private static List<string> Errors(Dictionary<string, string?> settings)
    {
        using var host = Host(settings);
        return Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<ProviderCatalog>()).Failures.ToList();
    }

    [Fact]
    public void EnvironmentShortcuts_EachProviderVariable_AddsItsDeployment()
    {
        var deployments = Deployments(new()
        {
            ["AZURE_OPENAI_API_KEY"] = "azure-key",
            ["AZURE_OPENAI_ENDPOINT"] = "https://contoso.openai.azure.com",
            ["AZURE_OPENAI_DEPLOYMENT"] = "prod-mini",
            ["AZURE_OPENAI_API_VERSION"] = "2025-04-01-preview",
            ["ANTHROPIC_API_KEY"] = "sk-ant-key",
            ["GEMINI_API_KEY"] = "AIza-key",
            ["GEMINI_BASE_URL"] = "https://gemini-proxy.example",
            ["OLLAMA_HOST"] = "gpu-box",
        }).ToDictionary(d => d.Id);

        var azure = deployments["azure-openai"];
        Assert.Equal(ProviderTypes.AzureOpenAi, azure.Provider);
        Assert.Equal("https://contoso.openai.azure.com/", azure.BaseUrl.ToString());
        Assert.Equal("prod-mini", azure.Model);
        Assert.Equal("2025-04-01-preview", azure.ApiVersion);
        Assert.Equal(SecretNames.AzureOpenAiApiKey, azure.ApiKeySecret);
        var anthropic = deployments["anthropic"];
        Assert.Equal("https://api.anthropic.com/", anthropic.BaseUrl.ToString());
        Assert.Equal(DeploymentConfig.AnyModel, anthropic.Model);
        Assert.Equal(SecretNames.AnthropicApiKey, anthropic.ApiKeySecret);
        var gemini = deployments["gemini"];
        Assert.Equal("https://gemini-proxy.example/", gemini.BaseUrl.ToString());
        Assert.Equal(SecretNames.GeminiApiKey, gemini.ApiKeySecret);
        var ollama = deployments["ollama"];
        Assert.Equal("http://gpu-box:11434/", ollama.BaseUrl.ToString());
        Assert.Null(ollama.ApiKeySecret);
        Assert.DoesNotContain("openai", deployments.Keys);
    }

    [Fact]
    public void EnvironmentShortcuts_DaprModeFlags_AddTheDeploymentWithoutTheKeyVariable()
    {
        var ids = Deployments(new() { ["AIMESH_ANTHROPIC_DEPLOYMENT"] = "true", ["AIMESH_GEMINI_DEPLOYMENT"] = "TRUE" }).Select(d => d.Id);

        Assert.Equal(["anthropic", "gemini"], ids);
    }

    [Fact]
    public void EnvironmentShortcuts_AConfiguredDeploymentWithTheSameId_Wins()
    {
        var deployment = Assert.Single(Deployments(new()
        {
            ["ANTHROPIC_API_KEY"] = "sk-ant-key",
            ["AiMesh:Deployments:0:Id"] = "anthropic",
            ["AiMesh:Deployments:0:Provider"] = "anthropic",
            ["AiMesh:Deployments:0:Model"] = "claude-haiku-4-5",
        }));

        Assert.Equal("claude-haiku-4-5", deployment.Model);
    }

    [Theory]
    [InlineData("127.0.0.1", "http://127.0.0.1:11434/")]
    [InlineData("0.0.0.0", "http://127.0.0.1:11434/")]
    [InlineData("0.0.0.0:11500", "http://127.0.0.1:11500/")]
    [InlineData("http://ollama.internal", "http://ollama.internal:11434/")]
    [InlineData("https://ollama.example.com", "https://ollama.example.com/")]
    [InlineData("http://10.0.0.5:8080/", "http://10.0.0.5:8080/")]
    public void OllamaHost_IsReadAsTheOllamaClientsReadIt(string host, string baseUrl)
    {
        Assert.Equal(baseUrl, Assert.Single(Deployments(new() { ["OLLAMA_HOST"] = host })).BaseUrl.ToString());
    }

    [Fact]
    public void Validation_AzureKeyWithoutEndpoint_NamesTheVariable()
    {
        var error = Assert.Single(Errors(new() { ["AZURE_OPENAI_API_KEY"] = "azure-key" }));

        Assert.StartsWith("AZURE_OPENAI_ENDPOINT is required", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validation_BadAzureApiVersionFromTheEnvironment_NamesTheVariable()
    {
        var error = Assert.Single(Errors(new() { ["AZURE_OPENAI_ENDPOINT"] = "https://contoso.openai.azure.com", ["AZURE_OPENAI_API_VERSION"] = "latest" }));

        Assert.Contains("AZURE_OPENAI_API_VERSION 'latest'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validation_NewFields_NameTheirSettings()
    {
        var errors = Errors(new()
        {
            ["AiMesh:Deployments:0:Id"] = "azure",
            ["AiMesh:Deployments:0:Provider"] = "azure-openai",
            ["AiMesh:Deployments:0:BaseUrl"] = "https://contoso.openai.azure.com",
            ["AiMesh:Deployments:0:Model"] = "gpt-4o-mini",
            ["AiMesh:Deployments:0:ApiVersion"] = "2024/10/21",
            ["AiMesh:Deployments:0:AzureDeployment"] = "prod mini",
            ["AiMesh:Deployments:1:Id"] = "claude",
            ["AiMesh:Deployments:1:Provider"] = "anthropic",
            ["AiMesh:Deployments:1:Model"] = "claude-sonnet-4-5",
            ["AiMesh:Deployments:1:ApiVersion"] = "2024-10-21",
            ["AiMesh:Deployments:1:Capabilities:ContextWindow"] = "0",
            ["AiMesh:Deployments:2:Id"] = "azure-no-url",
            ["AiMesh:Deployments:2:Provider"] = "azure-openai",
            ["AiMesh:Deployments:2:Model"] = "gpt-4o",
            ["AiMesh:Deployments:3:Id"] = "mystery",
            ["AiMesh:Deployments:3:Provider"] = "bedrock",
            ["AiMesh:Deployments:3:BaseUrl"] = "https://bedrock.example",
            ["AiMesh:Deployments:3:Model"] = "m",
        });

        Assert.Contains(errors, e => e.StartsWith("AiMesh:Deployments:0:ApiVersion '2024/10/21'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("AiMesh:Deployments:0:AzureDeployment 'prod mini'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("AiMesh:Deployments:1:ApiVersion applies only to provider 'azure-openai'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("AiMesh:Deployments:1:Capabilities:ContextWindow", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("AiMesh:Deployments:2:BaseUrl is required for provider 'azure-openai'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("AiMesh:Deployments:3:Provider 'bedrock' is not supported", StringComparison.Ordinal) && e.Contains("anthropic", StringComparison.Ordinal));
        Assert.Equal(6, errors.Count);
    }

    [Fact]
    public void Freeze_ProviderDefaults_FillBaseUrlAndCapabilities()
    {
        var deployments = Deployments(new()
        {
            ["AiMesh:Deployments:0:Id"] = "claude",
            ["AiMesh:Deployments:0:Provider"] = "anthropic",
            ["AiMesh:Deployments:0:Model"] = "claude-sonnet-4-5",
            ["AiMesh:Deployments:1:Id"] = "gemini",
            ["AiMesh:Deployments:1:Provider"] = "gemini",
            ["AiMesh:Deployments:1:Model"] = "gemini-2.5-flash",
            ["AiMesh:Deployments:1:Capabilities:ContextWindow"] = "32768",
            ["AiMesh:Deployments:2:Id"] = "llava",
            ["AiMesh:Deployments:2:Provider"] = "ollama",
            ["AiMesh:Deployments:2:Model"] = "llava:13b",
            ["AiMesh:Deployments:2:Capabilities:Vision"] = "true",
            ["AiMesh:Deployments:3:Id"] = "embed",
            ["AiMesh:Deployments:3:Provider"] = "ollama",
            ["AiMesh:Deployments:3:Model"] = "nomic-embed-text",
            ["AiMesh:Deployments:4:Id"] = "llama",
            ["AiMesh:Deployments:4:Provider"] = "ollama",
            ["AiMesh:Deployments:4:Model"] = "llama3.2",
            ["AiMesh:Deployments:5:Id"] = "gpt",
            ["AiMesh:Deployments:5:Provider"] = "azure-openai",
            ["AiMesh:Deployments:5:BaseUrl"] = "https://contoso.openai.azure.com",
            ["AiMesh:Deployments:5:Model"] = "gpt-4.1-mini",
        }).ToDictionary(d => d.Id);

        Assert.Equal("https://api.anthropic.com/", deployments["claude"].BaseUrl.ToString());
        Assert.Equal(new DeploymentCapabilities(Vision: true, Tools: true, JsonMode: true, ContextWindow: 200_000, Embeddings: false), deployments["claude"].Capabilities);
        Assert.Equal("https://generativelanguage.googleapis.com/", deployments["gemini"].BaseUrl.ToString());
        Assert.Equal(new DeploymentCapabilities(true, true, true, 32768, false), deployments["gemini"].Capabilities);
        Assert.Equal("http://127.0.0.1:11434/", deployments["llava"].BaseUrl.ToString());
        Assert.Equal(new DeploymentCapabilities(true, true, true, null, false), deployments["llava"].Capabilities);
        Assert.False(deployments["llama"].Capabilities.Vision);
        Assert.Equal(1_047_576, deployments["gpt"].Capabilities.ContextWindow);
        Assert.True(deployments["embed"].Capabilities.Embeddings);
        Assert.False(deployments["embed"].Capabilities.Tools);
    }

    [Fact]
    public async Task GetDeployments_ExposesCapabilitiesAndTheProvidersReservationPrice()
    {
        using var host = Host(new()
        {
            ["ANTHROPIC_API_KEY"] = "sk-ant-key",
            ["OLLAMA_HOST"] = "127.0.0.1",
            ["AiMesh:Deployments:0:Id"] = "gemini-flash",
            ["AiMesh:Deployments:0:Provider"] = "gemini",
            ["AiMesh:Deployments:0:Model"] = "gemini-2.5-flash",
            ["AiMesh:Deployments:0:Weight"] = "3",
        });

        var deployments = (await host.Services.GetRequiredService<ProviderAdapterService>().GetDeploymentsAsync(CancellationToken.None)).ToDictionary(d => d.Id);

        Assert.Equal(new DeploymentCapabilities(true, true, true, null, false), deployments["anthropic"].Capabilities);
        Assert.Equal(new DeploymentCapabilities(true, true, true, 1_048_576, false), deployments["gemini-flash"].Capabilities);
        Assert.True(deployments["ollama"].Capabilities!.Embeddings);
        Assert.Equal(new PriceInfo(15m, 75m, 1.5m), deployments["anthropic"].ReservationPrice);
        Assert.Equal(new PriceInfo(0.30m, 2.50m, 0.03m), deployments["gemini-flash"].ReservationPrice);
        Assert.Equal(new PriceInfo(0m, 0m, 0m), deployments["ollama"].ReservationPrice);
        Assert.Equal("ollama", deployments["ollama"].Provider);
        Assert.Equal(3, deployments["gemini-flash"].Weight);
        Assert.Equal(1, deployments["anthropic"].Weight);
    }
}
