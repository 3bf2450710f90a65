namespace AiMesh.Contracts;

/// <summary>Dapr app-ids: the folder name of each service under services/.</summary>
public static class AppIds
{
    public const string Router = "router";
    public const string Validation = "validation";
    public const string ProviderAdapter = "provider-adapter";
    public const string CostLedger = "cost-ledger";
    public const string Health = "health";

    public static readonly IReadOnlyList<string> All = [Router, Validation, ProviderAdapter, CostLedger, Health];
}

/// <summary>Dapr component names, as in components/*.yaml (a test keeps them in step).</summary>
public static class Components
{
    public const string StateStore = "statestore";
    public const string PubSub = "pubsub";
    public const string SecretStore = "secretstore";
}

/// <summary>Pub/sub topics. Named explicitly, never derived from a type name.</summary>
public static class Topics
{
    public const string Usage = "usage";
    public const string UsageDeadLetter = "usage-deadletter";
    public const string BudgetAlerts = "budget-alerts";
    public const string BudgetAlertsDeadLetter = "budget-alerts-deadletter";
    public const string DeploymentHealth = "deployment-health";
    public const string DeploymentHealthDeadLetter = "deployment-health-deadletter";
    public const string HealthAlerts = "health-alerts";
}

/// <summary>Dapr actor types.</summary>
public static class ActorTypes
{
    public const string Quota = "QuotaActor";
}

/// <summary>Names of secrets in the secret store (Dapr) or, upper-cased with '_' for '-', environment variables (embedded).</summary>
public static class SecretNames
{
    public const string OpenAiApiKey = "openai-api-key";
    public const string AzureOpenAiApiKey = "azure-openai-api-key";
    public const string AnthropicApiKey = "anthropic-api-key";
    public const string GeminiApiKey = "gemini-api-key";
    public const string MasterKey = "aimesh-master-key";

    /// <summary>The AES-256 key (base64 of 32 bytes) that encrypts provider keys added through the admin API.</summary>
    public const string EncryptionKey = "aimesh-encryption-key";

    /// <summary>The previous encryption key while a rotation is under way: still decrypts, never encrypts.</summary>
    public const string PreviousEncryptionKey = "aimesh-encryption-key-previous";
}
