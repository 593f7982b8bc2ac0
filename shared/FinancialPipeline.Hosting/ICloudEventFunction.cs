using CloudNative.CloudEvents;

namespace FinancialPipeline.Hosting;

/// <summary>
/// A function triggered by a CloudEvent with typed data; the same shape as
/// Google.Cloud.Functions.Framework's <c>ICloudEventFunction&lt;TData&gt;</c>. A completed task is success (2xx);
/// <see cref="Core.Contracts.MessageRejectedException"/> is a permanent rejection (2xx, recorded);
/// <see cref="RetryLaterException"/> and any other exception are NACKs (non-2xx, redelivered).
/// </summary>
public interface ICloudEventFunction<in TData>
    where TData : class
{
    Task HandleAsync(CloudEvent cloudEvent, TData data, CancellationToken cancellationToken);
}

/// <summary>The message cannot be handled now but may succeed later (stage busy, lease lost): answered 409.</summary>
public sealed class RetryLaterException : Exception
{
    public RetryLaterException(string message)
        : base(message)
    {
    }

    public RetryLaterException()
    {
    }

    public RetryLaterException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Something outside the message failed (a webhook down or erroring, a service that did not answer): the
/// environment's fault, not a bug, so the host logs its message as one line (which must say what failed, a status or
/// socket error, and never a secret). Thrown while handling an event it is answered 500 and redelivered like any
/// failure, the exception kept at Debug; thrown by a startup task it fails the start (<see cref="StartupGate"/>).
/// </summary>
public class EnvironmentFailureException : Exception
{
    public EnvironmentFailureException(string message)
        : base(message)
    {
    }

    public EnvironmentFailureException()
    {
    }

    public EnvironmentFailureException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Where permanently rejected messages are recorded (the control DB in production).</summary>
public interface IRejectionSink
{
    Task RecordAsync(RejectedMessage rejected, CancellationToken cancellationToken);
}

/// <summary>A message answered 2xx without being processed, and why.</summary>
public sealed record RejectedMessage(
    string FunctionName,
    string? MessageId,
    string? Subscription,
    string? Source,
    string? ExecutionId,
    string Field,
    string Reason,
    ReadOnlyMemory<byte> Payload,
    IReadOnlyDictionary<string, string> Attributes,
    DateTimeOffset ReceivedAt);
