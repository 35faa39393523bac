# Homebrew formula for preemptd, kept beside the code it builds.
#
# No release has been published yet, so there is no url/sha256 and no
# homepage: the formula builds the git HEAD of the checkout it sits in.
#   brew install --HEAD --formula ./Formula/preemptd.rb
# When a release is tagged, add url and sha256 of its tarball, a homepage,
# and drop the file:// head for the public repository.
class Preemptd < Formula
  desc "Entropy daemon harvesting scheduler preemption boundaries"
  license "ISC"
  head "file://#{File.expand_path("..", __dir__)}", using: :git, branch: "main"

  depends_on "meson" => :build
  depends_on "ninja" => :build
  depends_on "pkgconf" => :build
  depends_on "jansson" # preemptctl only
  depends_on "libdivsufsort" # preemptctl assess only
  depends_on "libsodium"
  depends_on "libuv"

  def install
    # The plist goes into the keg, not /Library/LaunchDaemons: brew may not
    # write there, and `brew services` generates its own from the block below.
    system "meson", "setup", "build", "-Dtests=false",
           "-Dlaunchddir=#{prefix}", *std_meson_args
    system "meson", "compile", "-C", "build", "--verbose"
    system "meson", "install", "-C", "build"
  end

  # Same job as launchd/org.preemptd.preemptd.plist.in, as far as brew's
  # service DSL can say it. Its `sockets` knows only TCP/UDP, so launchd
  # hands over no socket and preemptd binds /var/run/preemptd.sock itself
  # (PBD_DEFAULT_SOCKET on macOS): the same path, and with --group admin and
  # the default mode 0660 the same owner, group and mode as the plist's
  # SockPathOwner 0, SockPathGroup 80, SockPathMode 432. Root is needed to
  # create it in /var/run. ProcessType Standard, as in the plist: the sampler
  # thread lowers itself to QoS background (--priority idle, the default).
  # Logs go to the unified log, so there is no log_path to rotate.
  service do
    run [opt_sbin/"preemptd", "--foreground", "--group", "admin"]
    require_root true
    run_at_load true
    keep_alive true
    process_type :standard
  end

  def caveats
    <<~EOS
      Start it at boot with:
        sudo brew services start preemptd
      Use that or the plist installed in #{opt_prefix}, not both: both
      serve /var/run/preemptd.sock. Root and members of admin may connect.
      Logs:
        log show --last 1h --predicate 'process == "preemptd"'
    EOS
  end

  test do
    sock = testpath/"pbd.sock"
    pid = spawn sbin/"preemptd", "--socket", sock.to_s, "--ring-size", "4096"
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
