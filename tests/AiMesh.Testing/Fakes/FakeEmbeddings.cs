using System.Buffers.Binary;
using System.Text;

namespace AiMesh.Testing.Fakes;

/// <summary>Deterministic fake embeddings: the same text always gives the same vector.</summary>
public static class FakeEmbeddings
{
    public const int DefaultDimensions = 8;

    public static float[] Vector(string text, int? dimensions = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var vector = new float[dimensions ?? DefaultDimensions];
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = (((bytes.Length + (i * 31) + (bytes.Length > 0 ? bytes[i % bytes.Length] : 0)) % 200) - 100) / 100f;
        }

        return vector;
    }

    public static string Base64(float[] vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        var bytes = new byte[vector.Length * sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        }

        return Convert.ToBase64String(bytes);
    }

    /// <summary>Tokens the fakes report for a text: one per four characters, at least one.</summary>
    public static int Tokens(string text) => Math.Max(1, (text?.Length ?? 0) / 4);
}
