using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.ServiceDefaults;

// Dapr mode: provider-adapter on its own, behind its sidecar.
var builder = WebApplication.CreateBuilder(args);
builder.AddAiMeshDefaults(AppIds.ProviderAdapter).AddProviderAdapter();
builder.Services.AddDaprBuildingBlocks();

var app = builder.Build();
app.MapAiMeshDefaults();
app.UseDaprBuildingBlocks();
app.MapProviderAdapter();
app.MapProviderAdapterEmbeddings();
app.Run();
