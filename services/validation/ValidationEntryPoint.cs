namespace AiMesh.Validation;

/// <summary>Names this service's assembly (and so its Program) for WebApplicationFactory in tests.</summary>
public sealed class ValidationEntryPoint;
