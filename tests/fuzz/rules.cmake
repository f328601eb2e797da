# fuzz_rules: the rule loader (YAML, expressions, matchers, templates) and evaluation. Included
# from tests/fuzz/CMakeLists.txt. Seeds are the test fixtures and the examples:
#   mkdir -p /tmp/rules && build-fuzz/tests/fuzz/fuzz_rules -max_total_time=60 /tmp/rules \
#       tests/fuzz/corpus/rules
set(VG_RULES_DIR ${CMAKE_CURRENT_LIST_DIR}/../../rules)
vg_add_fuzzer(fuzz_rules
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_rules.c
        ${VG_RULES_DIR}/vg_rule.c
        ${VG_RULES_DIR}/vg_rule_load.c
        ${VG_RULES_DIR}/vg_rule_policy.c
        ${CMAKE_CURRENT_LIST_DIR}/../../actions/vg_scale.c
        ${VG_RULES_DIR}/vg_rule_select.c
        ${VG_RULES_DIR}/vg_rule_state.c
        ${VG_RULES_DIR}/vg_rule_suggest.c
        ${VG_RULES_DIR}/vg_rule_yaml.c
        ${VG_RULES_DIR}/vg_expr.c
        ${VG_RULES_DIR}/vg_tmpl.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_strmap.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_config.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_yamlmark.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_util.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_urlfile.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_runas.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_secret.c
        ${CMAKE_CURRENT_LIST_DIR}/../../common/vg_log.c
    LIBS PkgConfig::YAML m)
target_include_directories(fuzz_rules PRIVATE ${VG_RULES_DIR}
    ${CMAKE_CURRENT_LIST_DIR}/../../actions)
