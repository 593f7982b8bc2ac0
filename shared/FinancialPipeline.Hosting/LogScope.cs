using System.Collections;
using System.Globalization;

namespace FinancialPipeline.Hosting;

/// <summary>
/// The state of a logging scope that carries identifiers (execution_id, stage…): name/value pairs, which the JSON
/// formatter writes as top-level fields, and <c>execution_id=… stage=…</c> as its text, which is what the simple
/// console formatter prints for a scope (a plain dictionary would print its type name there).
/// </summary>
public sealed class LogScope : IReadOnlyList<KeyValuePair<string, object?>>
{
    private readonly KeyValuePair<string, object?>[] _values;

    public LogScope(params ReadOnlySpan<(string Name, object? Value)> values)
    {
        _values = new KeyValuePair<string, object?>[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            _values[i] = new(values[i].Name, values[i].Value);
        }
    }

    public int Count => _values.Length;

    public KeyValuePair<string, object?> this[int index] => _values[index];

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() =>
        string.Join(' ', _values.Select(v => v.Key + "=" + Convert.ToString(v.Value, CultureInfo.InvariantCulture)));
}
