using AiMesh.Contracts;
using AiMesh.CostLedger.Quota;
using BenchmarkDotNet.Attributes;

namespace AiMesh.Bench.Micro;

/// <summary>
/// A request's turn at the quota actor: reserve, then settle, while other requests of the same
/// tenant hold open reservations (as many as it has requests in flight).
/// </summary>
[MemoryDiagnoser]
public class QuotaBenchmarks
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private readonly SubjectLimits _limits = new() { RequestsPerMinute = 1_000_000, TokensPerMinute = 1_000_000_000, DailyBudgetUsd = 1_000_000m };
    private readonly QuotaReservation _reservation = new("req-bench", 40, 0.0001m);
    private readonly QuotaSettlement _settlement = new("req-bench", 30, 0.00008m);
    private QuotaState _state = new();

    /// <summary>Open reservations of the tenant's other requests in flight.</summary>
    [Params(32, 1024)]
    public int InFlight { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var state = new QuotaState();
        for (var i = 0; i < InFlight; i++)
        {
            (state, _) = QuotaPolicy.Reserve(state, new QuotaReservation($"req-{i}", 40, 0.0001m), _limits, Now);
        }

        _state = state;
    }

    [Benchmark]
    public QuotaState ReserveThenSettle()
    {
        var (reserved, _) = QuotaPolicy.Reserve(_state, _reservation, _limits, Now);
        return QuotaPolicy.Settle(reserved, _settlement, _limits, "tenant:bench", Now).State;
    }
}
