using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.Health;
using AiMesh.ServiceDefaults;

// Dapr mode: the health service on its own, consuming usage events.
var builder = WebApplication.CreateBuilder(args);
builder.AddAiMeshDefaults(AppIds.Health).AddHealthService();
builder.Services.AddDaprBuildingBlocks();

var app = builder.Build();
app.MapAiMeshDefaults();
app.UseDaprBuildingBlocks();
app.MapHealthService();
app.Run();
