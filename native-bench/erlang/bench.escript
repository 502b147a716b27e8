#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% The BEAM side of the process-model benchmarks (issue 5, workloads 1-6).
%%
%% Each workload does the real work its name says and checks its result
%% (message counts, sequence numbers, sums); a failed check aborts the script
%% with a non-zero exit status instead of printing a figure. Every workload is
%% run `--runs` times (default 3) and the median is reported, because the
%% machines this runs on are shared and noisy (spread of 20-60% between passes
%% is normal on them).
%%
%% The number of schedulers is whatever the emulator was started with:
%% `ERL_FLAGS="+S 1" escript bench.escript` or `+S 2` (escript honours
%% ERL_FLAGS; the figure used is reported as "schedulers").
%%
%% Output: exactly one JSON object on stdout. Progress goes to stderr.
%%
%% Usage: escript bench.escript [--quick] [--runs N]
%%   --quick   counts scaled down ~10x (finishes in a few seconds)
%%   --runs N  passes per workload, median reported (default 3)

%% Escripts are interpreted by erl_eval unless told otherwise; interpreted
%% code would measure the interpreter, not the process machinery.
-mode(compile).

%% Full-size counts. --quick divides the large ones by 10 (QUICK_DIV); the
%% ring size and the number of fan-in senders stay as the workload names them.
-define(SPAWN_EXIT_N, 1000000).
%% Children spawned before their DOWN messages are collected. Batching lets
%% children run on other schedulers while the parent is still spawning, and
%% bounds the number of live processes. "spawn_exit_serial" is the same
%% workload with a batch of 1 (spawn, wait for DOWN, repeat) on N/10 children:
%% the latency-bound figure, for a runtime whose benchmark spawns serially.
-define(SPAWN_EXIT_BATCH, 1000).
-define(IDLE_N, 100000).
-define(PING_PONG_N, 1000000).
%% One round trip in LATENCY_EVERY is timed (two monotonic_time calls, ~50 ns
%% each), so the throughput figure is barely disturbed by the sampling.
-define(LATENCY_EVERY, 16).
-define(RING_SIZE, 1000).
-define(RING_HOPS, 1000000).
-define(FAN_IN_SENDERS, 1000).
-define(FAN_IN_PER_SENDER, 1000).
-define(QUICK_DIV, 10).

main(Args) ->
    Opts = parse_args(Args, #{quick => false, runs => 3}),
    Div = case maps:get(quick, Opts) of true -> ?QUICK_DIV; false -> 1 end,
    Runs = maps:get(runs, Opts),
    Payload = map_payload(),
    Results = #{
        spawn_exit => runs(spawn_exit, Runs,
                           fun() -> spawn_exit(?SPAWN_EXIT_N div Div, ?SPAWN_EXIT_BATCH) end),
        spawn_exit_serial => runs(spawn_exit_serial, Runs,
                                  fun() -> spawn_exit(?SPAWN_EXIT_N div Div div 10, 1) end),
        idle_memory => idle_memory_runs(Runs, ?IDLE_N div Div),
        ping_pong => runs(ping_pong, Runs, fun() -> ping_pong(?PING_PONG_N div Div, small) end),
        ring => runs(ring, Runs, fun() -> ring(?RING_SIZE, ?RING_HOPS div Div, small) end),
        fan_in => runs(fan_in, Runs,
                       fun() -> fan_in(?FAN_IN_SENDERS, ?FAN_IN_PER_SENDER div Div) end),
        ping_pong_map => runs(ping_pong_map, Runs,
                              fun() -> ping_pong(?PING_PONG_N div Div, Payload) end),
        ring_map => runs(ring_map, Runs, fun() -> ring(?RING_SIZE, ?RING_HOPS div Div, Payload) end)
    },
    Out = #{
        runtime => <<"beam">>,
        otp => list_to_binary(erlang:system_info(otp_release)),
        erts => list_to_binary(erlang:system_info(version)),
        schedulers => erlang:system_info(schedulers_online),
        quick => maps:get(quick, Opts),
        runs => Runs,
        results => Results
    },
    io:put_chars([json(Out), $\n]).

parse_args([], Acc) -> Acc;
parse_args(["--quick" | T], Acc) -> parse_args(T, Acc#{quick := true});
parse_args(["--runs", N | T], Acc) -> parse_args(T, Acc#{runs := list_to_integer(N)});
parse_args([Other | _], _) ->
    io:format(standard_error, "unknown argument ~s~n"
              "usage: bench.escript [--quick] [--runs N]~n", [Other]),
    halt(2).

%% Runs a workload Runs times and reports the pass with the median ops/s,
%% plus every pass's ops/s so the spread is visible.
runs(Name, Runs, Fun) ->
    Passes = [begin
                  R = Fun(),
                  progress(Name, R),
                  R
              end || _ <- lists:seq(1, Runs)],
    Sorted = lists:sort(fun(A, B) -> maps:get(ops, A) =< maps:get(ops, B) end, Passes),
    Median = lists:nth((length(Sorted) + 1) div 2, Sorted),
    Median#{runs => [maps:get(ops, P) || P <- Passes]}.

progress(Name, R) ->
    io:format(standard_error, "beam ~s: ~p ops/s~n", [Name, maps:get(ops, R)]).

now_ns() -> erlang:monotonic_time(nanosecond).

ops(Count, Ns) -> round(Count * 1.0e9 / Ns).

check(true, _What) -> ok;
check(false, What) ->
    io:format(standard_error, "check failed: ~s~n", [What]),
    halt(1).

%% ---------------------------------------------------------------------------
%% 1. spawn + exit, monitored, DOWN received

spawn_exit(N, Batch) ->
    T0 = now_ns(),
    Down = spawn_exit_batches(N, Batch, 0),
    T1 = now_ns(),
    check(Down =:= N, "spawn_exit: one DOWN (reason normal) per child"),
    #{ops => ops(N, T1 - T0), n => N, batch => Batch}.

spawn_exit_batches(0, _Batch, Down) -> Down;
spawn_exit_batches(Left, Batch, Down) ->
    B = min(Left, Batch),
    spawn_children(B),
    spawn_exit_batches(Left - B, Batch, Down + collect_down(B, 0)).

spawn_children(0) -> ok;
spawn_children(K) ->
    spawn_monitor(fun child/0),
    spawn_children(K - 1).

child() -> ok.

collect_down(0, Got) -> Got;
collect_down(K, Got) ->
    receive {'DOWN', _Ref, process, _Pid, normal} -> collect_down(K - 1, Got + 1) end.

%% ---------------------------------------------------------------------------
%% 2. spawn and hold N processes blocked in receive
%%
%% Each process acknowledges once it has reached its receive, so the spawn
%% rate is "spawned and run to its first block", and the memory is measured
%% with every process parked. Two memory figures: the delta of
%% erlang:memory(processes) over N (everything the emulator allocated for
%% them), and the mean of process_info(P, memory) (PCB + heap + stack).

idle_memory_runs(Runs, N) ->
    Passes = [begin
                  R = idle_memory(N),
                  io:format(standard_error, "beam idle_memory: ~p bytes/process, ~p spawns/s~n",
                            [maps:get(bytes_per_process, R), maps:get(spawn_rate, R)]),
                  R
              end || _ <- lists:seq(1, Runs)],
    Sorted = lists:sort(fun(A, B) -> maps:get(bytes_per_process, A) =< maps:get(bytes_per_process, B) end,
                        Passes),
    Median = lists:nth((length(Sorted) + 1) div 2, Sorted),
    Rates = lists:sort([maps:get(spawn_rate, P) || P <- Passes]),
    MedianRate = lists:nth((length(Rates) + 1) div 2, Rates),
    Median#{spawn_rate := MedianRate, ops := MedianRate,
            runs => [maps:get(bytes_per_process, P) || P <- Passes],
            spawn_rate_runs => [maps:get(spawn_rate, P) || P <- Passes]}.

idle_memory(N) ->
    erlang:garbage_collect(),
    Count0 = erlang:system_info(process_count),
    Mem0 = erlang:memory(processes),
    Self = self(),
    T0 = now_ns(),
    Pids = spawn_idle(N, Self, []),
    await_ready(N),
    T1 = now_ns(),
    erlang:garbage_collect(),
    Mem1 = erlang:memory(processes),
    Count1 = erlang:system_info(process_count),
    check(Count1 - Count0 =:= N, "idle_memory: N more live processes"),
    PerProcess = [M || P <- Pids, {memory, M} <- [process_info(P, memory)]],
    check(length(PerProcess) =:= N, "idle_memory: every process alive"),
    Waiting = length([P || P <- Pids, process_info(P, status) =:= {status, waiting}]),
    check(Waiting =:= N, "idle_memory: every process blocked in receive"),
    stop_idle(Pids),
    #{ops => ops(N, T1 - T0),
      spawn_rate => ops(N, T1 - T0),
      bytes_per_process => round((Mem1 - Mem0) / N),
      process_info_bytes => round(lists:sum(PerProcess) / N),
      n => N}.

spawn_idle(0, _Parent, Acc) -> Acc;
spawn_idle(K, Parent, Acc) ->
    P = spawn(fun() -> idle(Parent) end),
    spawn_idle(K - 1, Parent, [P | Acc]).

idle(Parent) ->
    Parent ! ready,
    receive stop -> ok end.

await_ready(0) -> ok;
await_ready(K) -> receive ready -> await_ready(K - 1) end.

stop_idle(Pids) ->
    Refs = [monitor(process, P) || P <- Pids],
    [P ! stop || P <- Pids],
    [receive {'DOWN', R, process, _, normal} -> ok end || R <- Refs],
    ok.

%% ---------------------------------------------------------------------------
%% 3 and 6. ping-pong between two processes (small message or map payload)
%%
%% Both ends are fresh processes (not the escript's main process) so neither
%% has a cluttered mailbox. Every reply carries the sequence number of its
%% ping and is matched on it; the last echoed payload must equal the original.

ping_pong(N, Payload) ->
    Parent = self(),
    Ponger = spawn_link(fun pong_loop/0),
    Pinger = spawn_link(fun() ->
                            T0 = now_ns(),
                            {Samples, Last} = ping_loop(Ponger, N, Payload, [], Payload),
                            T1 = now_ns(),
                            Parent ! {self(), T1 - T0, Samples, Last}
                        end),
    receive {Pinger, Ns, Samples, Last} -> ok end,
    Ponger ! stop,
    check(Last =:= Payload, "ping_pong: payload echoed intact"),
    check(length(Samples) =:= N div ?LATENCY_EVERY, "ping_pong: latency sample count"),
    Sorted = list_to_tuple(lists:sort(Samples)),
    #{ops => ops(N, Ns),
      p50_us => percentile_us(Sorted, 0.50),
      p99_us => percentile_us(Sorted, 0.99),
      n => N}.

ping_loop(_Ponger, 0, _Payload, Samples, Last) -> {Samples, Last};
ping_loop(Ponger, K, Payload, Samples, _Last) when K rem ?LATENCY_EVERY =:= 0 ->
    T0 = now_ns(),
    Ponger ! {ping, self(), K, Payload},
    receive {pong, K, Echo} -> ok end,
    T1 = now_ns(),
    ping_loop(Ponger, K - 1, Payload, [T1 - T0 | Samples], Echo);
ping_loop(Ponger, K, Payload, Samples, _Last) ->
    Ponger ! {ping, self(), K, Payload},
    receive {pong, K, Echo} -> ok end,
    ping_loop(Ponger, K - 1, Payload, Samples, Echo).

pong_loop() ->
    receive
        {ping, From, K, Payload} -> From ! {pong, K, Payload}, pong_loop();
        stop -> ok
    end.

percentile_us(Sorted, _Q) when tuple_size(Sorted) =:= 0 -> null;
percentile_us(Sorted, Q) ->
    I = max(1, min(tuple_size(Sorted), round(Q * tuple_size(Sorted)))),
    element(I, Sorted) / 1000.

%% ---------------------------------------------------------------------------
%% 4 and 6. ring of Size processes, one token passed Hops times
%%
%% The token carries the hops left; the process that receives it at 0 reports
%% to the parent. Each ring member counts the hops it forwarded; the counts
%% must sum to Hops.

ring(Size, Hops, Payload) ->
    Parent = self(),
    Members = [spawn_link(fun() -> ring_init(Parent) end) || _ <- lists:seq(1, Size)],
    Nexts = tl(Members) ++ [hd(Members)],
    [M ! {next, Nx} || {M, Nx} <- lists:zip(Members, Nexts)],
    T0 = now_ns(),
    hd(Members) ! {token, Hops, Payload},
    receive {ring_done, Echo} -> ok end,
    T1 = now_ns(),
    [M ! {report, self()} || M <- Members],
    Forwarded = lists:sum([receive {forwarded, M, C} -> C end || M <- Members]),
    check(Forwarded =:= Hops, "ring: forwarded hops sum to the hop count"),
    check(Echo =:= Payload, "ring: payload intact after the last hop"),
    #{ops => ops(Hops, T1 - T0), n => Hops, size => Size}.

ring_init(Parent) ->
    receive {next, Next} -> ring_loop(Parent, Next, 0) end.

ring_loop(Parent, Next, Count) ->
    receive
        {token, 0, Payload} ->
            Parent ! {ring_done, Payload},
            ring_loop(Parent, Next, Count);
        {token, H, Payload} ->
            Next ! {token, H - 1, Payload},
            ring_loop(Parent, Next, Count + 1);
        {report, From} ->
            From ! {forwarded, self(), Count}
    end.

%% ---------------------------------------------------------------------------
%% 5. fan-in: Senders processes each send PerSender small messages to one
%% receiver. The receiver counts them and sums their sequence numbers.

fan_in(Senders, PerSender) ->
    Parent = self(),
    Total = Senders * PerSender,
    Receiver = spawn_link(fun() -> fan_in_receive(Parent, Total, 0) end),
    T0 = now_ns(),
    [spawn_link(fun() -> fan_in_send(Receiver, PerSender) end) || _ <- lists:seq(1, Senders)],
    receive {fan_in_done, Sum} -> ok end,
    T1 = now_ns(),
    check(Sum =:= Senders * (PerSender * (PerSender + 1) div 2),
          "fan_in: every message received exactly once"),
    #{ops => ops(Total, T1 - T0), n => Total, senders => Senders}.

fan_in_send(_Receiver, 0) -> ok;
fan_in_send(Receiver, K) ->
    Receiver ! {msg, K},
    fan_in_send(Receiver, K - 1).

fan_in_receive(Parent, 0, Sum) -> Parent ! {fan_in_done, Sum};
fan_in_receive(Parent, Left, Sum) ->
    receive {msg, K} -> fan_in_receive(Parent, Left - 1, Sum + K) end.

%% ---------------------------------------------------------------------------
%% The 10-field payload of workload 6: mixed scalar types, the shape of a
%% typical small Lua table sent between processes.
%%
%% It is built at run time from a seed the compiler cannot see. A map written
%% as a constant would live in the module's literal area, and BEAM does not
%% copy literals when sending: the "map" workloads would then measure the
%% small-message path. Built like this, every send copies the values (the
%% keys tuple stays a shared literal, as it does in real code that writes
%% #{id => Id, ...}).

map_payload() ->
    Seed = erlang:unique_integer([positive]),
    Id = Seed rem 1000,
    #{id => Id,
      name => <<"order-", (integer_to_binary(Id))/binary>>,
      qty => Seed rem 7,
      price => Id * 0.01 + 19.99,
      paid => Seed rem 2 =:= 0,
      tags => [<<"a", (Seed rem 10)>>, <<"b", (Seed rem 10)>>],
      ts => 1700000000000 + Seed,
      ratio => (Seed rem 100) / 100,
      status => list_to_binary(["open-", integer_to_list(Seed rem 3)]),
      owner => list_to_binary(["user-", integer_to_list(Seed rem 97)])}.

%% ---------------------------------------------------------------------------
%% A minimal JSON encoder (OTP 25 has no json module): maps with atom keys,
%% lists, binaries, integers, floats, booleans and null.

json(M) when is_map(M) ->
    ["{", lists:join(",", [[json_key(K), ":", json(V)] || {K, V} <- lists:sort(maps:to_list(M))]), "}"];
json(L) when is_list(L) -> ["[", lists:join(",", [json(X) || X <- L]), "]"];
json(B) when is_binary(B) -> [$", B, $"];
json(I) when is_integer(I) -> integer_to_list(I);
json(F) when is_float(F) -> float_to_list(F, [{decimals, 3}, compact]);
json(true) -> "true";
json(false) -> "false";
json(null) -> "null";
json(A) when is_atom(A) -> [$", atom_to_list(A), $"].

json_key(K) when is_atom(K) -> [$", atom_to_list(K), $"].
