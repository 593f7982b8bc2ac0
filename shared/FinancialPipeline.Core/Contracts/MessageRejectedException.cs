namespace FinancialPipeline.Core.Contracts;

/// <summary>
/// A message that can never succeed however often it is redelivered (bad JSON, bad UUID, unknown job...).
/// The host answers 2xx and records the rejection with <see cref="Field"/> and the reason.
/// </summary>
public sealed class MessageRejectedException : Exception
{
    public MessageRejectedException(string field, string reason)
        : base($"{field}: {reason}")
    {
        Field = field;
        Reason = reason;
    }

    public MessageRejectedException()
        : this("message", "rejected")
    {
    }

    public MessageRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = "message";
        Reason = message;
    }

    public string Field { get; } = "message";

    public string Reason { get; } = "rejected";
}
