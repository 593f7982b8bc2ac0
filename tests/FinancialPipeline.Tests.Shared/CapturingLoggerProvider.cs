using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Tests.Shared;

/// <summary>One captured log line: its level, formatted message, exception (a stack trace when logged) and scopes.</summary>
public sealed record LogLine(LogLevel Level, string Category, string Message, Exception? Exception, IReadOnlyList<KeyValuePair<string, object?>> Scopes)
{
    public string? Scope(string name) => Scopes.LastOrDefault(p => p.Key == name).Value as string;
}

/// <summary>Keeps every line logged through it, with the scopes active at the time (add it to a host's logging).</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<LogLine> _lines = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyList<LogLine> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var pairs = new List<KeyValuePair<string, object?>>();
            owner._scopes.ForEachScope(
                static (scope, list) =>
                {
                    if (scope is IEnumerable<KeyValuePair<string, object?>> values)
                    {
                        list.AddRange(values);
                    }
                },
                pairs);
            owner._lines.Enqueue(new LogLine(logLevel, category, formatter(state, exception), exception, pairs));
        }
    }
}
