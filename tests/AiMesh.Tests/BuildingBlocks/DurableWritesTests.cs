using AiMesh.BuildingBlocks;

namespace AiMesh.Tests.BuildingBlocks;

public sealed class DurableWritesTests
{
    [Fact]
    public void Together_WakeUpsDeferredInNestedScopes_RunOnceWhenTheOuterScopeEnds()
    {
        var woken = 0;
        void WakeUp() => woken++;

        Assert.False(DurableWrites.TryDefer(WakeUp));
        using (DurableWrites.Together())
        {
            Assert.True(DurableWrites.TryDefer(WakeUp));
            using (DurableWrites.Together())
            {
                Assert.True(DurableWrites.TryDefer(WakeUp));
            }

            Assert.Equal(0, woken);
        }

        Assert.Equal(2, woken);
        Assert.False(DurableWrites.TryDefer(WakeUp));
    }

    [Fact]
    public void Together_AWakeUpThrows_TheOthersStillRunAndTheExceptionComesOut()
    {
        var woken = 0;
        void DeferBothAndEnd()
        {
            using (DurableWrites.Together())
            {
                DurableWrites.TryDefer(() => throw new InvalidOperationException("wake-up failed"));
                DurableWrites.TryDefer(() => woken++);
            }
        }

        var exception = Assert.Throws<InvalidOperationException>(DeferBothAndEnd);

        Assert.Equal("wake-up failed", exception.Message);
        Assert.Equal(1, woken);
        // Nothing of that scope is left for the next one.
        using (DurableWrites.Together())
        {
        }

        Assert.Equal(1, woken);
        Assert.False(DurableWrites.TryDefer(() => woken++));
    }
}
