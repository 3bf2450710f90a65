namespace AiMesh.Router.Pipeline;

/// <summary>
/// Which deployments have a daily budget: the router reads the <c>AiMesh:Quotas:Deployments</c>
/// section that cost-ledger enforces, so it only calls a deployment's quota actor when there is
/// something to enforce. (In Dapr mode, give the section to both services.)
/// </summary>
public sealed class DeploymentBudgets
{
    public const string Section = "AiMesh:Quotas";

    public Dictionary<string, DeploymentBudget> Deployments { get; set; } = new(StringComparer.Ordinal);

    public bool HasBudget(string deploymentId) => Deployments.GetValueOrDefault(deploymentId)?.DailyBudgetUsd is not null;
}

public sealed class DeploymentBudget
{
    public decimal? DailyBudgetUsd { get; set; }
}
