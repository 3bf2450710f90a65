namespace AiMesh.Contracts;

/// <summary>
/// The event names of the log lines operators alert on (the seeds' names). Each such line carries
/// its name as the <c>EventName</c> field too, since JSON console logs show only the numeric event id.
/// </summary>
public static class LogEvents
{
    public const string RequestSuccess = "request_success";
    public const string RequestFailure = "request_failure";
    public const string HealthAlert = "health_alert";
    public const string BudgetAlert = "budget_alert";
}
