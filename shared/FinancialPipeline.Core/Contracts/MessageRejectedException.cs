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

    private MessageRejectedException(string field, string reason, Guid executionId, Exception innerException)
        : base($"{field}: {reason}", innerException)
    {
        Field = field;
        Reason = reason;
        ExecutionId = executionId;
    }

    public string Field { get; } = "message";

    /// <summary>The message's execution id when it parsed before something else was found wrong, so the rejection is
    /// recorded under that execution (<c>fp runs --execution-id</c> shows it); null when it never parsed.</summary>
    public Guid? ExecutionId { get; }

    /// <summary>The same rejection, recorded under <paramref name="executionId"/>.</summary>
    public MessageRejectedException Of(Guid executionId) => new(Field, Reason, executionId, this);

    public string Reason { get; } = "rejected";
}
