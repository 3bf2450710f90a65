using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.CostLedger;
using AiMesh.ServiceDefaults;

// Dapr mode: cost-ledger on its own, hosting the QuotaActor and consuming usage events.
var builder = WebApplication.CreateBuilder(args);
builder.AddAiMeshDefaults(AppIds.CostLedger).AddCostLedger().AddQuotaActor();
builder.Services.AddDaprBuildingBlocks();

var app = builder.Build();
app.MapAiMeshDefaults();
app.UseDaprBuildingBlocks();
app.MapActorsHandlers();
app.MapCostLedger();
app.Run();
