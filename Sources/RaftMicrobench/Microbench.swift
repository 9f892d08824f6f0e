/// `raft-microbench [codec|core|storage|metrics|kv|all] [--dir PATH] [--pairs N]`, or
/// `raft-microbench cluster --endpoints H:P,... [--clients N] [--seconds S]`: release-mode throughput figures for the
/// README and issue notes. Not a test: the machine is shared and noisy, so
/// compare ratios measured in one run.
@main
struct Microbench {
    static func main() async {
        let args = CommandLine.arguments.dropFirst()
        let which = args.first ?? "all"
        func option(_ name: String) -> String? {
            guard let flag = args.firstIndex(of: name), args.index(after: flag) < args.endIndex else { return nil }
            return args[args.index(after: flag)]
        }
        if which == "cluster" {
            let endpoints = (option("--endpoints") ?? "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103")
                .split(separator: ",").map(String.init)
            let clients = option("--clients").flatMap { Int($0) } ?? 1
            let seconds = option("--seconds").flatMap { Double($0) } ?? 10
            for line in await ClusterBenchmark.run(endpoints: endpoints, clients: clients, seconds: seconds) { print(line) }
            return
        }
        guard ["codec", "core", "storage", "metrics", "kv", "all"].contains(which) else {
            print("usage: raft-microbench [codec|core|storage|metrics|kv|all] [--dir PATH] [--pairs N] | cluster --endpoints H:P,... [--clients N] [--seconds S]")
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
        if which == "metrics" || which == "all" {
            for line in MetricsBenchmark.run() { print(line) }
        }
        if which == "storage" || which == "all" {
            // Storage figures depend on the disk: measure on the one the data dir will use.
            let directory = option("--dir") ?? "/tmp"
            for line in StorageBenchmark.run(directory: directory) { print(line) }
        }
        if which == "kv" {
            // Builds the whole state in memory (about 3x its size at the peak): not part of "all".
            let pairs = option("--pairs").flatMap { Int($0) } ?? 1_000_000
            do {
                for line in try KVSnapshotBenchmark.run(directory: option("--dir") ?? "/tmp", pairs: pairs, valueBytes: 1024) {
                    print(line)
                }
            } catch {
                print("kv benchmark failed: \(error)")
            }
        }
    }
}
