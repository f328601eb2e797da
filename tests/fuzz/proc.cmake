# fuzz_proc: the /proc parsers (collectors/proc_*.c). Included from tests/fuzz/CMakeLists.txt.
# The fixture trees double as the seed corpus:
#   mkdir -p /tmp/proc && build-fuzz/tests/fuzz/fuzz_proc -max_total_time=60 /tmp/proc \
#       tests/data/proc
set(VG_COLLECTORS_DIR ${CMAKE_CURRENT_LIST_DIR}/../../collectors)
set(VG_COMMON_DIR ${CMAKE_CURRENT_LIST_DIR}/../../common)
vg_add_fuzzer(fuzz_proc
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_proc.c
        ${VG_COLLECTORS_DIR}/proc_scan.c
        ${VG_COLLECTORS_DIR}/proc_read.c
        ${VG_COLLECTORS_DIR}/proc_cpu.c
        ${VG_COLLECTORS_DIR}/proc_mem.c
        ${VG_COLLECTORS_DIR}/proc_load.c
        ${VG_COLLECTORS_DIR}/proc_disk.c
        ${VG_COLLECTORS_DIR}/proc_net.c
        ${VG_COLLECTORS_DIR}/vg_devtab.c
        ${VG_COLLECTORS_DIR}/proc_fields.c
        ${VG_COLLECTORS_DIR}/proc_vmstat.c
        ${VG_COLLECTORS_DIR}/proc_psi.c
        ${VG_COLLECTORS_DIR}/proc_netstat.c
        ${VG_COLLECTORS_DIR}/proc_fs.c
        ${VG_COLLECTORS_DIR}/proc_fsspace.c
        ${VG_COLLECTORS_DIR}/cgroup_v2.c
        ${VG_COLLECTORS_DIR}/vg_rate.c
        ${VG_COLLECTORS_DIR}/bpf/vg_cgname.c
        ${VG_COMMON_DIR}/vg_log.c
        ${VG_COMMON_DIR}/vg_secret.c
        ${VG_COMMON_DIR}/vg_wire.c
        ${VG_COMMON_DIR}/vg_numparse.c
        ${VG_COMMON_DIR}/vg_util.c
    LIBS vg_numparse_pow5 PkgConfig::JANSSON m
    CORPUS ${CMAKE_CURRENT_LIST_DIR}/../data/proc)
target_include_directories(fuzz_proc PRIVATE ${VG_COLLECTORS_DIR} ${VG_COLLECTORS_DIR}/bpf)
