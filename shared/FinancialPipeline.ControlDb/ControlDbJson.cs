using System.Text.Json.Serialization;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// The jsonb values the control database writes (message attributes, stage metrics, restated splits), serialised by source-generated
/// code: the reflection-based default serializer builds its whole converter table (~60 JIT-compiled methods) the
/// first time, and a rejection is often the first thing a cold host writes.
/// </summary>
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, long>))]
[JsonSerializable(typeof(List<RestatedSplit>))]
internal sealed partial class ControlDbJson : JsonSerializerContext;
