using AiMesh.BuildingBlocks.Embedded;
using AiMesh.Testing;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.BuildingBlocks;

public sealed class SqliteDatabaseTests : IDisposable
{
    private readonly SqliteDatabase _sut = new(Options.Create(new EmbeddedOptions { DatabasePath = EmbeddedGateway.NewDatabasePath() }));

    [Fact]
    public async Task WriteAsync_AloneAndThrowing_CommitsNothingOfItAndLaterWritesCommit()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);

        var failed = _sut.WriteAsync<int>((c, t) =>
        {
            Execute(c, t, "INSERT INTO items VALUES ('lost')");
            throw new InvalidOperationException("boom");
        }, CancellationToken.None);
        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => failed);
        await _sut.WriteAsync((c, t) => Execute(c, t, "INSERT INTO items VALUES ('kept')"), CancellationToken.None);

        Assert.Equal("boom", exception.Message);
        Assert.Equal(["kept"], _sut.Read(Names));
    }

    private static int Execute(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction transaction, string sql) =>
        SqliteDatabase.Command(connection, transaction, sql).ExecuteNonQuery();

    private static List<string> Names(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM items";
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    public void Dispose() => _sut.Dispose();
}
