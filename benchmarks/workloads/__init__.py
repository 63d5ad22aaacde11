"""The benchmarked workloads, by name, in the order the table lists them."""

from benchmarks.harness import Workload
from benchmarks.workloads import gated, mlp, rnn, summariser, tiny, transformer

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        mlp.WORKLOAD, rnn.WORKLOAD, gated.GRU_WORKLOAD, gated.LSTM_WORKLOAD, transformer.WORKLOAD,
        tiny.WORKLOAD, summariser.WORKLOAD,
    )
}
