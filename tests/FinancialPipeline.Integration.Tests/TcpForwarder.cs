using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// A loopback TCP forwarder a test puts between a client and a real server (PostgreSQL), to make a real outage:
/// <see cref="Cut"/> drops every open connection and closes new ones at once (as a network partition or a server
/// restart looks to the client), <see cref="Restore"/> forwards again.
/// </summary>
internal sealed class TcpForwarder : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly ConcurrentDictionary<TcpClient, byte> _open = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private volatile bool _cut;

    public TcpForwarder(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Cut()
    {
        _cut = true;
        foreach (var client in _open.Keys)
        {
            Drop(client);
        }
    }

    public void Restore() => _cut = false;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Cut();
        await _accepting;
        _stop.Dispose();
    }

    private void Drop(TcpClient client)
    {
        if (_open.TryRemove(client, out _))
        {
            client.Client.LingerState = new LingerOption(true, 0); // a reset, not a graceful close
            client.Dispose();
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ForwardAsync(inbound);
        }
    }

    private async Task ForwardAsync(TcpClient inbound)
    {
        _open[inbound] = 0;
        if (_cut)
        {
            Drop(inbound);
            return;
        }

        var outbound = new TcpClient();
        _open[outbound] = 0;
        try
        {
            await outbound.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            await Task.WhenAny(
                inbound.GetStream().CopyToAsync(outbound.GetStream(), done.Token),
                outbound.GetStream().CopyToAsync(inbound.GetStream(), done.Token));
            await done.CancelAsync();
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // The connection was cut or closed: drop both ends below.
        }
        finally
        {
            Drop(inbound);
            Drop(outbound);
        }
    }
}
