# Homebrew formula for preemptd: this repository is its own tap.
#
#   brew tap preemptd/preemptd https://github.com/preemptd/preemptd
#   brew install preemptd
#
# url and sha256 are those of the release tarball made by `meson dist`
# (docs/operations.md, "Homebrew", says how to cut one); `--HEAD` builds
# the main branch instead.
class Preemptd < Formula
  desc "Entropy daemon harvesting scheduler preemption boundaries"
  homepage "https://github.com/preemptd/preemptd"
  url "https://github.com/preemptd/preemptd/releases/download/v0.1.0/preemptd-0.1.0.tar.xz"
  sha256 "2acd3eb935e45518ecb96707b2254c2e34498fa7445e2409f3a30b23dafd95db"
  license "ISC"
  head "https://github.com/preemptd/preemptd.git", branch: "main"

  depends_on "meson" => :build
  depends_on "ninja" => :build
  depends_on "pkgconf" => :build
  depends_on "inih" # the configuration and credit files
  depends_on "jansson" # preemptctl only
  depends_on "libdivsufsort" # preemptctl assess only
  depends_on "libsodium"
  depends_on "libuv"
  depends_on "openssl@3" # the OpenSSL seed-source provider

  def install
    # The plist goes into the keg, not /Library/LaunchDaemons: brew may not
    # write there, and `brew services` generates its own from the block
    # below. Its path then names opt_prefix, which survives upgrades, not
    # this version's own keg directory.
    system "meson", "setup", "build", "-Dtests=false", "-Dopenssl=enabled",
           "-Dlaunchddir=#{prefix}", *std_meson_args
    system "meson", "compile", "-C", "build", "--verbose"
    system "meson", "install", "-C", "build"
    inreplace prefix/"org.preemptd.preemptd.plist", prefix.to_s, opt_prefix.to_s
  end

  # Same job as launchd/org.preemptd.preemptd.plist.in, as far as brew's
  # service DSL can say it. Its `sockets` knows only TCP/UDP, so launchd
  # hands over no socket and preemptd binds /var/run/preemptd.sock itself
  # (PBD_DEFAULT_SOCKET on macOS), which needs root; with --group admin and
  # the default mode 0660 the socket has the plist's owner, group and mode
  # (SockPathOwner 0, SockPathGroup 80, SockPathMode 432). Then --user
  # nobody drops root for the rest of its life, as UserName does in the
  # plist. ProcessType Standard, as in the plist: the sampler thread lowers
  # itself to QoS background (--priority idle, the default). Logs go to the
  # unified log, so there is no log_path to rotate.
  service do
    run [opt_sbin/"preemptd", "--foreground", "--group", "admin", "--user", "nobody"]
    require_root true
    run_at_load true
    keep_alive true
    process_type :standard
  end

  def caveats
    <<~EOS
      Start it at boot with:
        sudo brew services start preemptd
      It binds /var/run/preemptd.sock as root, then runs as nobody.
      Use that or the plist installed in #{opt_prefix}, not both: both
      serve /var/run/preemptd.sock. Root and members of admin may connect.
      Settings: #{etc}/preemptd/preemptd.conf (see man preemptd.conf).
      Logs:
        log show --last 1h --predicate 'process == "preemptd"'
    EOS
  end

  test do
    sock = testpath/"pbd.sock"
    pid = spawn sbin/"preemptd", "--no-config", "--socket", sock.to_s, "--ring-size", "4096"
    begin
      ok = false
      60.times do
        ok = system bin/"preemptctl", "--socket", sock.to_s, "health"
        break if ok

        sleep 0.5
      end
      assert ok, "preemptd never became healthy"
      out = shell_output("#{bin}/preemptctl --socket #{sock} read -n 32 | wc -c")
      assert_equal 32, out.strip.to_i
    ensure
      Process.kill("TERM", pid)
      Process.wait(pid)
    end
  end
end
