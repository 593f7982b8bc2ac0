using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using FinancialPipeline.Hosting;
using Microsoft.AspNetCore.Http;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// Stands in for a Slack incoming webhook (POST JSON to a secret path; 200 "ok" on success; 4xx/5xx with a short
/// error body otherwise), on a loopback port. It can be told to fail the next N posts with 500 (an outage).
/// </summary>
internal sealed class SlackReceiver : IAsyncDisposable
{
    private readonly FunctionApp _app;
    private readonly ConcurrentQueue<(int Status, JsonObject Payload)> _requests = new();
    private int _failuresLeft;

    private SlackReceiver(FunctionApp app) => _app = app;

    public Uri WebhookUrl => new(_app.BoundAddress(), "/services/T0000TEST/B0000TEST/not-a-real-secret");

    /// <summary>Every post, in arrival order, with the status it was answered.</summary>
    public IReadOnlyList<(int Status, JsonObject Payload)> Requests => _requests.ToList();

    public IReadOnlyList<JsonObject> Delivered => _requests.Where(r => r.Status == StatusCodes.Status200OK).Select(r => r.Payload).ToList();

    /// <summary>How long each answer takes (a hung webhook).</summary>
    public TimeSpan AnswerDelay { get; set; }

    public static async Task<SlackReceiver> StartAsync(int failFirst = 0)
    {
        var app = FunctionHost.CreateBuilder([], port: 0).Build();
        var receiver = new SlackReceiver(app) { _failuresLeft = failFirst };
        app.MapPost("/services/T0000TEST/B0000TEST/not-a-real-secret", async context => await (await receiver.HandleAsync(context)).ExecuteAsync(context));
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Posts (delivered) whose fallback text mentions <paramref name="needle"/>.</summary>
    public IReadOnlyList<JsonObject> DeliveredAbout(string needle) =>
        Delivered.Where(p => p["text"]?.GetValue<string>().Contains(needle, StringComparison.Ordinal) == true).ToList();

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private async Task<IResult> HandleAsync(HttpContext context)
    {
        JsonObject? payload;
        try
        {
            payload = await System.Text.Json.JsonSerializer.DeserializeAsync<JsonObject>(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (System.Text.Json.JsonException)
        {
            payload = null;
        }

        if (AnswerDelay > TimeSpan.Zero)
        {
            await Task.Delay(AnswerDelay, context.RequestAborted);
        }

        if (payload?["text"] is null || payload["blocks"] is not JsonArray)
        {
            return Results.Text("invalid_payload", statusCode: StatusCodes.Status400BadRequest);
        }

        if (Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            _requests.Enqueue((StatusCodes.Status500InternalServerError, payload));
            return Results.Text("internal_error", statusCode: StatusCodes.Status500InternalServerError);
        }

        _requests.Enqueue((StatusCodes.Status200OK, payload));
        return Results.Text("ok");
    }
}
