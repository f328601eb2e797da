# Reliability (issue 7): the catalogue of malformed inputs and their exact messages, the
# valgrind start-stop check, durability across kill -9, and detector state across rebalances.

# The /proc parsers are compiled in directly (as for fuzz_proc) rather than through
# vg_collectors, which drags in the eBPF collectors.
set(VG_PROC_PARSER_SOURCES
    ${PROJECT_SOURCE_DIR}/collectors/proc_scan.c ${PROJECT_SOURCE_DIR}/collectors/proc_read.c
    ${PROJECT_SOURCE_DIR}/collectors/proc_cpu.c ${PROJECT_SOURCE_DIR}/collectors/proc_mem.c
    ${PROJECT_SOURCE_DIR}/collectors/proc_load.c ${PROJECT_SOURCE_DIR}/collectors/proc_psi.c
    ${PROJECT_SOURCE_DIR}/collectors/proc_fields.c ${PROJECT_SOURCE_DIR}/collectors/vg_rate.c)
vg_add_test(test_catalogue
    SOURCES test_catalogue.c ${PROJECT_SOURCE_DIR}/analyzer/analyzer_config.c
        ${VG_PROC_PARSER_SOURCES}
    LIBS vg_analyzer vg_rules vg_common m)
target_include_directories(test_catalogue PRIVATE ${PROJECT_SOURCE_DIR}/analyzer
    ${PROJECT_SOURCE_DIR}/collectors ${PROJECT_SOURCE_DIR}/rules)

# The mock cluster in its own process: analyzers can be killed and restarted around it.
add_executable(vigil-test-mockbroker vg_mockbroker.c)
target_link_libraries(vigil-test-mockbroker PRIVATE PkgConfig::RDKAFKA Threads::Threads)

# valgrind over the daemons' start-stop cycle (skipped, exit 77, without valgrind). Not run in
# the ASan build: valgrind and ASan do not mix.
if(NOT VIGIL_SANITIZE)
    vg_add_test(test_valgrind SOURCES test_valgrind.c LIBS vg_teststack TIMEOUT 240
        LABELS valgrind)
    set_tests_properties(test_valgrind PROPERTIES SKIP_RETURN_CODE 77)
    add_dependencies(test_valgrind vigil-agent vigil-analyzer vigil-test-mockbroker)
endif()

# Analyzers in their own processes around vigil-test-mockbroker: kill -9 and rebalances.
add_library(vg_analyzerproc STATIC vg_analyzerproc.c)
target_link_libraries(vg_analyzerproc PUBLIC vg_teststack vg_common)
vg_add_test(test_durability SOURCES test_durability.c LIBS vg_analyzerproc PkgConfig::JANSSON
    TIMEOUT 200)
add_dependencies(test_durability vigil-analyzer vigil-test-mockbroker vigil-test-receiver)

# vg_ap_broker_control, which the fault tests wait on: a command sent again waits for its own
# answer, and a refusal is reported.
vg_add_test(test_broker_control SOURCES test_broker_control.c LIBS vg_analyzerproc vg_common
    TIMEOUT 60)
add_dependencies(test_broker_control vigil-test-mockbroker)

# The analyzer's consumer under partition faults (offset resets, a batch that does not
# decompress), and its stop during a broker outage, against the mock broker.
vg_add_test(test_consumer_faults SOURCES test_consumer_faults.c LIBS vg_analyzerproc vg_common
    TIMEOUT 300)
add_dependencies(test_consumer_faults vigil-analyzer vigil-test-mockbroker)
# tests/lz4_damage_shim.c, preloaded into one kcat: the lz4 batch it produces does not decompress.
vg_add_preload_shim(test_consumer_faults vg_lz4_damage_shim lz4_damage_shim.c VG_LZ4_DAMAGE_SHIM)

# The agent through broker outages, leader moves and produce errors (its on-disk spool), three
# cases at a time: the longest, the 60 s outage, bounds it.
vg_add_test(test_agent_outage SOURCES test_agent_outage.c LIBS vg_analyzerproc vg_common
    TIMEOUT 180)
add_dependencies(test_agent_outage vigil-agent vigil-analyzer vigil-test-mockbroker)

# The agent stopped while every broker is down: librdkafka's queue goes into a spool segment in
# front of the others and is sent first at the next start (boot 1's sequence numbers all before
# boot 2's in the topic); a previous run's spool kept while the topic does not exist. Three cases
# at a time.
vg_add_test(test_agent_outage_stop SOURCES test_agent_outage_stop.c LIBS vg_analyzerproc
    TIMEOUT 60)
add_dependencies(test_agent_outage_stop vigil-agent vigil-test-mockbroker)

# A spool that cannot be written (a full 256 KiB tmpfs): every message lost is one spool_failed
# and one sequence number missing from the topic (in one hole, or a few when a smaller message
# still fits in the space left).
vg_add_test(test_spool_full_disk SOURCES test_spool_full_disk.c LIBS vg_analyzerproc TIMEOUT 120)
set_tests_properties(test_spool_full_disk PROPERTIES SKIP_RETURN_CODE 77)
add_dependencies(test_spool_full_disk vigil-agent vigil-test-mockbroker)

# Scale-out (issue 7): two analyzers in one group, a rebalance, a SIGTERM handover and a kill -9
# takeover; hosts continue from vigil.state without a cold start or a sequence gap.
vg_add_test(test_scaleout SOURCES test_scaleout.c
    LIBS vg_analyzerproc PkgConfig::RDKAFKA PkgConfig::JANSSON Threads::Threads TIMEOUT 150
    LABELS scaleout)
add_dependencies(test_scaleout vigil-analyzer vigil-test-mockbroker vigil-test-receiver)

# Scaling decisions survive a restart: a second analyzer reads vigil.decisions back and continues
# each target from its latest decision and cooldown; a record that is no decision is refused.
vg_add_test(test_scale_restore SOURCES test_scale_restore.c LIBS vg_analyzerproc
    PkgConfig::JANSSON TIMEOUT 120 LABELS scaleout)
add_dependencies(test_scale_restore vigil-analyzer vigil-test-mockbroker)

# Scaling decisions the broker refuses (topic authorization failed) are counted in
# vigil_scale_publish_errors_total and logged with the broker's reason; publishing goes on.
vg_add_test(test_scale_publish_errors SOURCES test_scale_publish_errors.c LIBS vg_analyzerproc
    TIMEOUT 120 LABELS scaleout)
add_dependencies(test_scale_publish_errors vigil-analyzer vigil-test-mockbroker)

# State records larger than the state topic takes are written smaller, step by step, and never
# stop the checkpoints: the producer's message.max.bytes, and the broker's refusal (injected).
vg_add_test(test_state_size SOURCES test_state_size.c LIBS vg_analyzerproc vg_common TIMEOUT 180)
add_dependencies(test_state_size vigil-analyzer vigil-test-mockbroker)

# The agent's local guard (agent/vg_local) through a broker outage: a real agent on a fake /proc,
# the mock broker's control FIFO, the test receiver as the local webhook. Three cases at a time.
vg_add_test(test_local_alerts SOURCES test_local_alerts.c LIBS vg_analyzerproc PkgConfig::JANSSON
    vg_common TIMEOUT 150)
add_dependencies(test_local_alerts vigil-agent vigil-test-mockbroker vigil-test-receiver)
# A read error on the agent's spool segments while a file exists (tests/spool_eio_shim.c),
# preloaded into one agent.
vg_add_preload_shim(test_local_alerts vg_spool_eio_shim spool_eio_shim.c VG_SPOOL_EIO_SHIM)

# Hosts that stop for good are forgotten after limits.host_idle: alerts resolved, the host table
# shrinks, and a tombstone deletes their state record so that no later owner restores them.
vg_add_test(test_host_expiry SOURCES test_host_expiry.c LIBS vg_analyzerproc TIMEOUT 120)
add_dependencies(test_host_expiry vigil-analyzer vigil-test-mockbroker)

# The producer fleet, rules and member ids of the scaling-exchange tests (test_scale_fleet,
# test_scale_exchange).
add_library(vg_scalefleet STATIC vg_scalefleet.c)
target_link_libraries(vg_scalefleet PUBLIC vg_analyzerproc PkgConfig::RDKAFKA Threads::Threads)

# Several analyzers, one scaling decision per target: partial measurements exchanged through
# vigil.scale.partials, one decider per target, every analyzer serving its decision; the
# survivor of a stop decides over every host without counting any twice.
vg_add_test(test_scale_fleet SOURCES test_scale_fleet.c
    LIBS vg_analyzerproc vg_scalefleet PkgConfig::RDKAFKA PkgConfig::JANSSON Threads::Threads
    TIMEOUT 130 LABELS scaleout)
add_dependencies(test_scale_fleet vigil-analyzer vigil-test-mockbroker)

# Joining the scaling exchange against a cluster that is not as it should be: a missing partials
# topic (never auto-created), the metrics topic's partition count unknown at the assignment
# (looked up again), a broker too slow for the join's deadline (the start goes on, local-only).
vg_add_test(test_scale_exchange SOURCES test_scale_exchange.c
    LIBS vg_analyzerproc vg_scalefleet PkgConfig::RDKAFKA PkgConfig::JANSSON Threads::Threads
    TIMEOUT 180 LABELS scaleout)
add_dependencies(test_scale_exchange vigil-analyzer vigil-test-mockbroker)

# Reading a whole topic back (the state and decisions restores) against librdkafka's mock
# cluster in-process: watermark queries the broker refuses are asked again, a partition whose end
# stays unknown fails the read.
vg_add_test(test_kafka_read SOURCES test_kafka_read.c LIBS vg_common TIMEOUT 60)
