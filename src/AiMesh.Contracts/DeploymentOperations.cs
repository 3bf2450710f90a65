namespace AiMesh.Contracts;

/// <summary>health and router (admin API) → provider-adapter: operations on a deployment, never on the request path.</summary>
public interface IDeploymentOperations
{
    /// <summary>A cheap call (the provider's model list) that says whether the deployment is reachable and its key accepted.</summary>
    Task<ProbeResult> ProbeAsync(string deploymentId, CancellationToken cancellationToken);

    /// <summary>Closes the deployment's circuit breaker; false when there is no such deployment.</summary>
    Task<bool> ResetBreakerAsync(string deploymentId, CancellationToken cancellationToken);
}
