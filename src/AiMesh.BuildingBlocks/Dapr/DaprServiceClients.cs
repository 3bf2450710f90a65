using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using AiMesh.Contracts;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>The service routes behind the typed clients: one place, used by both sides.</summary>
public static class ServiceRoutes
{
    public const string ValidateChat = "/validate/chat";
    public const string ValidateEmbeddings = "/validate/embeddings";
    public const string Deployments = "/deployments";
    public const string Chat = "/chat";
    public const string ChatStream = "/chat/stream";
    public const string Embeddings = "/embeddings";
    public const string UsageQuery = "/usage/query";
    public const string UsageRecord = "/usage/requests/{requestId}";
    public const string BudgetAlerts = "/budget-alerts/{month}";
    public const string HealthReport = "/report";
    public const string HealthAlerts = "/alerts/{month}";
}

/// <summary>
/// A JSON body with a Content-Length: daprd only retries (resiliency policies) requests whose
/// body it could buffer, and a chunked body is never retried.
/// </summary>
internal static class InvokeContent
{
    public static ByteArrayContent Json<T>(T value)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, AiMeshJson.Options));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        return content;
    }
}

/// <summary>router → validation over Dapr service invocation.</summary>
public sealed class DaprValidationClient(HttpClient http) : IValidationClient
{
    public async Task<ValidationVerdict> ValidateChatAsync(ChatCompletionRequest request, ContentPolicy policy, CancellationToken cancellationToken)
    {
        using var content = InvokeContent.Json(new ChatValidationRequest(request, policy));
        using var response = await http.PostAsync(ServiceRoutes.ValidateChat, content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ValidationVerdict>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<EmbeddingsVerdict> ValidateEmbeddingsAsync(EmbeddingsRequest request, ContentPolicy policy, CancellationToken cancellationToken)
    {
        using var content = InvokeContent.Json(new EmbeddingsValidationRequest(request, policy));
        using var response = await http.PostAsync(ServiceRoutes.ValidateEmbeddings, content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<EmbeddingsVerdict>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
    }
}

/// <summary>router and health → provider-adapter over Dapr service invocation; streams arrive as NDJSON events.</summary>
public sealed class DaprProviderAdapterClient(HttpClient http) : IProviderAdapterClient
{
    public async Task<IReadOnlyList<DeploymentInfo>> GetDeploymentsAsync(CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<List<DeploymentInfo>>(ServiceRoutes.Deployments, AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;

    public async Task<ProviderChatResult> ChatAsync(ProviderChatRequest request, CancellationToken cancellationToken)
    {
        using var content = InvokeContent.Json(request);
        using var response = await http.PostAsync(ServiceRoutes.Chat, content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ProviderChatResult>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<ProviderChatResult> EmbedAsync(ProviderEmbeddingsRequest request, CancellationToken cancellationToken)
    {
        using var content = InvokeContent.Json(request);
        using var response = await http.PostAsync(ServiceRoutes.Embeddings, content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ProviderChatResult>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
    }

    public async IAsyncEnumerable<ProviderStreamEvent> StreamChatAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, ServiceRoutes.ChatStream)
        {
            Content = InvokeContent.Json(request),
        };
        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length > 0)
            {
                yield return JsonSerializer.Deserialize<ProviderStreamEvent>(line, AiMeshJson.Options)!;
            }
        }
    }
}

/// <summary>router (admin API) → cost-ledger.</summary>
public sealed class DaprCostLedgerClient(HttpClient http) : ICostLedgerClient
{
    public async Task<IReadOnlyList<UsageGroupRow>> GetUsageAsync(UsageQuery query, CancellationToken cancellationToken)
    {
        using var content = InvokeContent.Json(query);
        using var response = await http.PostAsync(ServiceRoutes.UsageQuery, content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<List<UsageGroupRow>>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<UsageEvent?> GetRecordAsync(string requestId, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(ServiceRoutes.UsageRecord.Replace("{requestId}", Uri.EscapeDataString(requestId), StringComparison.Ordinal), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == System.Net.HttpStatusCode.NoContent)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<UsageEvent>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<BudgetAlert>> GetBudgetAlertsAsync(string month, CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<List<BudgetAlert>>(ServiceRoutes.BudgetAlerts.Replace("{month}", Uri.EscapeDataString(month), StringComparison.Ordinal), AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
}

/// <summary>router (operations endpoints) → health.</summary>
public sealed class DaprHealthClient(HttpClient http) : IHealthClient
{
    public async Task<HealthReport> GetReportAsync(CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<HealthReport>(ServiceRoutes.HealthReport, AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;

    public async Task<IReadOnlyList<HealthAlert>> GetAlertsAsync(string month, CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<List<HealthAlert>>(ServiceRoutes.HealthAlerts.Replace("{month}", Uri.EscapeDataString(month), StringComparison.Ordinal), AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
}
