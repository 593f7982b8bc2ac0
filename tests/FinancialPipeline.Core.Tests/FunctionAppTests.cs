using System.Net;
using System.Text;
using CloudNative.CloudEvents;
using FinancialPipeline.Hosting;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Core.Tests;

/// <summary>
/// The function host over HTTP: its routes answer as endpoint routing did (POST anywhere, GET /healthz, 405 with
/// Allow for anything else), and a stop lets a request in flight finish before the host goes away.
/// </summary>
public sealed class FunctionAppTests
{
    [Fact]
    public async Task Routes_answer_a_post_anywhere_the_health_check_and_405_with_allow_for_other_methods()
    {
        await using var app = await StartAsync(new GatedFunction(released: true));
        using var http = new HttpClient();

        using var post = await http.PostAsync(new Uri(app.BoundAddress(), "/projects/p/topics/t?__GCP_CloudEventsMode=CE_PUBSUB_BINARY"), Push("m-1"));
        Assert.Equal(HttpStatusCode.NoContent, post.StatusCode);
        using var health = await http.GetAsync(new Uri(app.BoundAddress(), "/healthz")); // the POST waited for the startup gate
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", await health.Content.ReadAsStringAsync());

        using var slash = await http.GetAsync(new Uri(app.BoundAddress(), "/healthz/")); // a trailing slash is optional
        Assert.Equal(HttpStatusCode.OK, slash.StatusCode);

        using var get = await http.GetAsync(new Uri(app.BoundAddress(), "/"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal(["POST"], get.Content.Headers.Allow);
        using var put = await http.PutAsync(new Uri(app.BoundAddress(), "/healthz"), new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
        Assert.Equal(["POST", "GET"], put.Content.Headers.Allow);
    }

    [Fact]
    public async Task A_stop_lets_the_request_in_flight_finish_and_then_refuses_connections()
    {
        var function = new GatedFunction(released: false);
        var app = await StartAsync(function);
        var address = app.BoundAddress();
        using var http = new HttpClient();

        var inFlight = http.PostAsync(new Uri(address, "/"), Push("m-slow"));
        await function.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        var stopping = app.DisposeAsync().AsTask();
        // The stop is under way once the listener is closed (a new connection is refused); it cannot have completed,
        // since the request in flight is still held. Was: a 200 ms sleep, which on a loaded machine could check this
        // before the stop had begun.
        await RefusesConnectionsAsync(address).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(stopping.IsCompleted, "the stop waits for the request in flight");
        Assert.False(function.Cancelled, "the request in flight was not aborted");

        function.Release();
        using var answer = await inFlight.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(function.Completed);
        await Assert.ThrowsAsync<HttpRequestException>(() => http.PostAsync(new Uri(address, "/"), Push("m-late")));
    }

    [Fact]
    public async Task The_drain_a_built_host_allows_ends_early_enough_to_record_an_abort_before_cloud_runs_kill()
    {
        // Cloud Run sends SIGKILL 10 s after SIGTERM; a stage aborted when the drain ends needs time to mark its row
        // FAILED. This is the bound FunctionHostSignalTests relies on, checked on the configuration, not on a stopwatch.
        var cloudRunKillsAfter = TimeSpan.FromSeconds(10);
        await using var app = FunctionHost.CreateBuilder([], port: 0).Build();

        Assert.Equal(FunctionApp.DefaultShutdownTimeout, app.ShutdownTimeout);
        Assert.InRange(app.ShutdownTimeout, TimeSpan.FromSeconds(1), cloudRunKillsAfter - TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task A_request_outlasting_the_shutdown_timeout_is_aborted_and_every_stop_waits_for_the_one_stop()
    {
        var function = new GatedFunction(released: false);
        var app = await StartAsync(function);
        app.ShutdownTimeout = TimeSpan.FromSeconds(1);
        using var http = new HttpClient();

        var inFlight = http.PostAsync(new Uri(app.BoundAddress(), "/"), Push("m-stuck"));
        await function.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        var first = app.StopAsync();
        var second = app.StopAsync();

        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(function.Cancelled, "the request's token fired when the drain ended");
        await Assert.ThrowsAnyAsync<Exception>(() => inFlight);
        await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());
        await app.DisposeAsync();

        await using var neverStarted = FunctionHost.CreateBuilder([], port: 0).Build();
        await neverStarted.StopAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => neverStarted.StartAsync()); // a stopped host stays stopped
    }

    [Theory]
    [InlineData("X-Cloud-Trace-Context", "105445AA7843BC8BF206B12000100000/1;o=1", "projects/demo-project/traces/105445aa7843bc8bf206b12000100000")]
    [InlineData("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "projects/demo-project/traces/4bf92f3577b34da6a3ce929d0e0e4736")]
    [InlineData("X-Cloud-Trace-Context", "not-a-trace/1;o=1", null)]
    [InlineData("X-Cloud-Trace-Context", "00000000000000000000000000000000/1", null)]
    public async Task Json_logs_name_the_requests_trace_so_cloud_logging_groups_its_lines(string header, string value, string? expected)
    {
        var logs = new CapturingLoggerProvider();
        var builder = FunctionHost.CreateBuilder(["--K_SERVICE=fp-test", "--FP_PROJECT_ID=demo-project"], port: 0);
        builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddSingleton(new GatedFunction(released: true));
        await using var app = builder.Build();
        app.MapCloudEventFunction<GatedFunction>("gated");
        await app.StartAsync();
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(app.BoundAddress(), "/")) { Content = Push("m-traced") };
        request.Headers.TryAddWithoutValidation(header, value);

        using var answer = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        var handled = Assert.Single(logs.Lines, l => l.Message.Contains("answered 204 for message m-traced", StringComparison.Ordinal));
        Assert.Equal(expected, handled.Scope(CloudTraceProject.TraceField));
    }

    [Fact]
    public async Task A_body_larger_than_any_push_is_refused_with_413_in_one_warning_line()
    {
        // Was: the 413 came from an exception out of the request delegate, logged by Kestrel at Error with its stack.
        var logs = new CapturingLoggerProvider();
        var builder = FunctionHost.CreateBuilder([], port: 0);
        builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        var function = new GatedFunction(released: true);
        builder.Services.AddSingleton(function);
        await using var app = builder.Build();
        app.MapCloudEventFunction<GatedFunction>("gated");
        await app.StartAsync();
        // The headers alone, as a client about to send 15 MiB: the host answers before any of the body arrives (an
        // HttpClient sending the body would see the connection closed under it).
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(app.BoundAddress().Host, app.BoundAddress().Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 15728640\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);

        var statusLine = await reader.ReadLineAsync();

        Assert.Equal("HTTP/1.1 413 Payload Too Large", statusLine);
        var refused = Assert.Single(logs.Lines, l => l.Message.Contains("refused a push with 413", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, refused.Level);
        Assert.DoesNotContain(logs.Lines, l => l.Level >= LogLevel.Error || l.Exception is not null);
        Assert.False(function.Entered.IsCompleted);
    }

    private static async Task<FunctionApp> StartAsync(GatedFunction function)
    {
        var builder = FunctionHost.CreateBuilder([], port: 0);
        builder.Services.AddSingleton(function);
        var app = builder.Build();
        app.MapCloudEventFunction<GatedFunction>("gated");
        await app.StartAsync();
        return app;
    }

    /// <summary>Completes once nothing listens on <paramref name="address"/> any more.</summary>
    private static async Task RefusesConnectionsAsync(Uri address)
    {
        while (true)
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            try
            {
                await tcp.ConnectAsync(address.Host, address.Port);
            }
            catch (System.Net.Sockets.SocketException)
            {
                return;
            }

            await Task.Delay(20);
        }
    }

    private static StringContent Push(string messageId) =>
        new($$$"""{"message":{"data":"e30=","messageId":"{{{messageId}}}","attributes":{}},"subscription":"projects/p/subscriptions/s"}""", Encoding.UTF8, "application/json");

    /// <summary>Answers once released; says when a request has entered it.</summary>
    private sealed class GatedFunction(bool released) : ICloudEventFunction<MessagePublishedData>
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = CreateReleased(released);

        public Task Entered => _entered.Task;

        public bool Completed { get; private set; }

        public void Release() => _released.TrySetResult();

        public bool Cancelled { get; private set; }

        public async Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
        {
            _entered.TrySetResult();
            try
            {
                await _released.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Cancelled = true;
                throw;
            }

            Completed = true;
        }

        private static TaskCompletionSource CreateReleased(bool released)
        {
            var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (released)
            {
                source.SetResult();
            }

            return source;
        }
    }
}
