namespace FinancialPipeline.Hosting;

/// <summary>
/// The identifiers of the event a request is handling (execution_id, stage…), known only once the function has parsed
/// the payload. The function describes them here; the host then writes its own lines for the request (failed,
/// rejected, redelivered, handled) inside the same scope, so every line of a request carries the execution id, and a
/// rejection records the body's execution id when the message had no <c>execution_id</c> attribute.
/// </summary>
/// <remarks>
/// One instance per request, reachable from the function's code through an <see cref="AsyncLocal{T}"/> the host sets
/// before it calls the function (the same way <c>Activity.Current</c> flows): the function's signature stays the
/// Functions Framework's.
/// </remarks>
public sealed class EventLogContext
{
    private static readonly AsyncLocal<EventLogContext?> CurrentContext = new();

    /// <summary>The request being handled, or null outside a function host's request.</summary>
    public static EventLogContext? Current => CurrentContext.Value;

    /// <summary>What the function described, or null when it failed before it could parse the payload.</summary>
    public LogScope? Scope { get; private set; }

    /// <summary>The execution id the function described when it is a UUID (an alert about an unknown one says <c>unknown</c>), or null.</summary>
    public string? ExecutionId
    {
        get
        {
            if (Scope is null)
            {
                return null;
            }

            foreach (var (name, value) in Scope)
            {
                if (name == "execution_id")
                {
                    return value is string id && Guid.TryParse(id, out _) ? id : null;
                }
            }

            return null;
        }
    }

    /// <summary>Records <paramref name="scope"/> for the host's lines of the current request; a no-op outside one.</summary>
    public static void Describe(LogScope scope)
    {
        if (CurrentContext.Value is { } context)
        {
            context.Scope = scope;
        }
    }

    /// <summary>Starts the context of one request; called by the host before it runs the function.</summary>
    internal static EventLogContext Begin()
    {
        var context = new EventLogContext();
        CurrentContext.Value = context;
        return context;
    }
}
