namespace AiMesh.Router;

/// <summary>Names this service's assembly (and so its Program) for WebApplicationFactory in tests.</summary>
public sealed class RouterEntryPoint;
