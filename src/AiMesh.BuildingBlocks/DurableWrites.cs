namespace AiMesh.BuildingBlocks;

/// <summary>
/// Lets a caller start several durable writes that should share one commit, such as a request's
/// usage event and its quota settlement. Inside <see cref="Together"/> the embedded mode's SQLite
/// database queues the writes started on this thread and wakes its committer only when the scope
/// ends, so a committer that is idle (a lone request) cannot commit the first write alone and the
/// second one after it. In Dapr mode nothing consults it: the writes go to the sidecar as before.
/// </summary>
public static class DurableWrites
{
    [ThreadStatic]
    private static int t_depth;

    [ThreadStatic]
    private static List<Action>? t_deferred;

    /// <summary>
    /// Holds back the committer for the writes started until the scope is disposed. It is a ref
    /// struct, so it cannot live across an <c>await</c>: start the writes inside it (their tasks
    /// may await freely), await them after it.
    /// </summary>
    public static Scope Together()
    {
        t_depth++;
        return new Scope(begun: true);
    }

    /// <summary>
    /// Called by a store about to wake its committer: inside a scope the wake-up is kept for the
    /// scope's end (true), outside it the caller wakes the committer itself (false).
    /// </summary>
    public static bool TryDefer(Action wakeCommitter)
    {
        ArgumentNullException.ThrowIfNull(wakeCommitter);
        if (t_depth == 0)
        {
            return false;
        }

        (t_deferred ??= []).Add(wakeCommitter);
        return true;
    }

    private static void End()
    {
        if (--t_depth > 0 || t_deferred is not { Count: > 0 } deferred)
        {
            return;
        }

        // Every wake-up runs even when one throws: a committer left unwoken would hold its writes forever.
        Exception? failure = null;
        foreach (var wakeUp in deferred)
        {
            try
            {
                wakeUp();
            }
            catch (Exception exception)
            {
                failure ??= exception;
            }
        }

        deferred.Clear();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    public readonly ref struct Scope
    {
        // So that `default(Scope)`, never begun, ends nothing.
        private readonly bool _begun;

        internal Scope(bool begun) => _begun = begun;

        public void Dispose()
        {
            if (_begun)
            {
                End();
            }
        }
    }
}
