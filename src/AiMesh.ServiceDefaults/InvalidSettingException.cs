namespace AiMesh.ServiceDefaults;

/// <summary>A setting that stops start-up; its message names the setting and never its secret value.</summary>
public sealed class InvalidSettingException : Exception
{
    public InvalidSettingException()
    {
    }

    public InvalidSettingException(string message) : base(message)
    {
    }

    public InvalidSettingException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
