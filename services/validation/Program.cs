using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.ServiceDefaults;
using AiMesh.Validation;

// Dapr mode: the validation service on its own, behind its sidecar.
var builder = WebApplication.CreateBuilder(args);
builder.AddAiMeshDefaults(AppIds.Validation).AddValidation();
builder.Services.AddDaprBuildingBlocks();

var app = builder.Build();
app.MapAiMeshDefaults();
app.UseDaprBuildingBlocks();
app.MapValidation();
app.Run();
