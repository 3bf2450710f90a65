using System.Net;
using System.Net.Sockets;

namespace AiMesh.ProviderAdapter.Images;

/// <summary>
/// Which addresses the gateway refuses to fetch an image from: everything that is not a public unicast
/// address (loopback, private, shared, link-local — the cloud metadata service 169.254.169.254 among them —,
/// multicast, documentation and other reserved ranges). IPv6 forms that carry an IPv4 address
/// (IPv4-mapped, IPv4-compatible, SIIT, 6to4, NAT64) are judged by that IPv4 address.
/// </summary>
public static class ImageAddressPolicy
{
    private static readonly IPNetwork[] RefusedV4 =
    [
        IPNetwork.Parse("0.0.0.0/8"),        // "this network"; 0.0.0.0 reaches the local host
        IPNetwork.Parse("10.0.0.0/8"),       // private
        IPNetwork.Parse("100.64.0.0/10"),    // carrier-grade NAT (shared address space)
        IPNetwork.Parse("127.0.0.0/8"),      // loopback
        IPNetwork.Parse("169.254.0.0/16"),   // link-local, cloud metadata services
        IPNetwork.Parse("172.16.0.0/12"),    // private
        IPNetwork.Parse("192.0.0.0/24"),     // IETF protocol assignments
        IPNetwork.Parse("192.0.2.0/24"),     // documentation (TEST-NET-1)
        IPNetwork.Parse("192.88.99.0/24"),   // 6to4 relay anycast (deprecated)
        IPNetwork.Parse("192.168.0.0/16"),   // private
        IPNetwork.Parse("198.18.0.0/15"),    // benchmarking
        IPNetwork.Parse("198.51.100.0/24"),  // documentation (TEST-NET-2)
        IPNetwork.Parse("203.0.113.0/24"),   // documentation (TEST-NET-3)
        IPNetwork.Parse("224.0.0.0/4"),      // multicast
        IPNetwork.Parse("240.0.0.0/4"),      // reserved, and 255.255.255.255 broadcast
    ];

    private static readonly IPNetwork[] RefusedV6 =
    [
        IPNetwork.Parse("64:ff9b:1::/48"),   // local-use NAT64
        IPNetwork.Parse("2001::/23"),        // IETF protocol assignments, Teredo (2001::/32) among them
        IPNetwork.Parse("2001:db8::/32"),    // documentation
        IPNetwork.Parse("3fff::/20"),        // documentation
    ];

    private static readonly IPNetwork GlobalUnicastV6 = IPNetwork.Parse("2000::/3");
    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");
    private static readonly IPNetwork IPv4Translated = IPNetwork.Parse("::ffff:0:0:0/96");

    /// <summary>Whether the gateway must not connect to <paramref name="address"/> to fetch an image.</summary>
    public static bool IsRefused(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return RefusedV4.Any(n => n.Contains(address));
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return true;
        }

        var bytes = address.GetAddressBytes();
        if (address.IsIPv4MappedToIPv6)
        {
            // ::ffff:a.b.c.d reaches a.b.c.d on a dual-stack socket.
            return IsRefused(address.MapToIPv4());
        }

        if (bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0)
        {
            // ::/96: the unspecified address ::, loopback ::1 (both in 0.0.0.0/8), and IPv4-compatible ::a.b.c.d.
            return IsRefused(new IPAddress(bytes.AsSpan(12, 4)));
        }

        if (Nat64.Contains(address) || IPv4Translated.Contains(address))
        {
            return IsRefused(new IPAddress(bytes.AsSpan(12, 4)));
        }

        if (SixToFour.Contains(address))
        {
            return IsRefused(new IPAddress(bytes.AsSpan(2, 4)));
        }

        // Outside 2000::/3 everything is special: link-local fe80::/10, site-local fec0::/10, unique-local
        // fc00::/7, multicast ff00::/8, discard 100::/64 and the unassigned rest.
        return !GlobalUnicastV6.Contains(address) || RefusedV6.Any(n => n.Contains(address));
    }
}
