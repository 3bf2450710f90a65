using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.Router;
using AiMesh.Router.Security;
using AiMesh.ServiceDefaults;

// Dapr mode: the router on its own, reaching the other services through its sidecar.
var builder = WebApplication.CreateBuilder(args);
builder.AddAiMeshDefaults(AppIds.Router).AddRouter().AddRouterProtection();
builder.Services.AddDaprBuildingBlocks();

var app = builder.Build();
app.UseRouterProtection();
app.MapAiMeshDefaults();
app.UseDaprBuildingBlocks();
app.MapRouter();
app.Run();
