/// `raft-microbench [codec|core|storage|all] [--dir PATH]`: release-mode throughput figures for the
/// README and issue notes. Not a test: the machine is shared and noisy, so
/// compare ratios measured in one run.
@main
struct Microbench {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        let which = args.first ?? "all"
        guard ["codec", "core", "storage", "all"].contains(which) else {
            print("usage: raft-microbench [codec|core|storage|all] [--dir PATH]")
            return
        }
        #if DEBUG
            print("warning: debug build; run `swift run -c release raft-microbench` for real figures")
        #endif
        if which == "codec" || which == "all" {
            for line in CodecBenchmark.run() { print(line) }
        }
        if which == "core" || which == "all" {
            do {
                for line in try CoreBenchmark.run() { print(line) }
            } catch {
                print("core benchmark failed: \(error)")
            }
        }
        if which == "storage" || which == "all" {
            // Storage figures depend on the disk: measure on the one the data dir will use.
            var directory = "/tmp"
            if let flag = args.firstIndex(of: "--dir"), args.index(after: flag) < args.endIndex {
                directory = args[args.index(after: flag)]
            }
            for line in StorageBenchmark.run(directory: directory) { print(line) }
        }
    }
}
