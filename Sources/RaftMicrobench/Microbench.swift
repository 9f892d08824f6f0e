/// `raft-microbench [codec|all]`: release-mode throughput figures for the
/// README and issue notes. Not a test: the machine is shared and noisy, so
/// compare ratios measured in one run.
@main
struct Microbench {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        let which = args.first ?? "all"
        guard ["codec", "all"].contains(which) else {
            print("usage: raft-microbench [codec|all]")
            return
        }
        #if DEBUG
            print("warning: debug build; run `swift run -c release raft-microbench` for real figures")
        #endif
        if which == "codec" || which == "all" {
            for line in CodecBenchmark.run() { print(line) }
        }
    }
}
