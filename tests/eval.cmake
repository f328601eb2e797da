# Evaluation: NAB scoring, SMD metrics, data set readers, the seasonal model and its calibration,
# and vigilctl eval end to end on small slices of the data sets (tests/data/*-slice).
vg_add_test(test_eval_nab SOURCES test_eval_nab.c LIBS vg_eval)
vg_add_test(test_eval_smd SOURCES test_eval_smd.c LIBS vg_eval)
vg_add_test(test_spot SOURCES test_spot.c LIBS vg_detectors)
vg_add_test(test_seasonal SOURCES test_seasonal.c LIBS vg_detectors)
vg_add_test(test_eval_cli SOURCES test_eval_cli.c LIBS vg_common)
add_dependencies(test_eval_cli vigilctl)
if(VIGIL_CUDA_ENABLED)
    target_compile_definitions(test_eval_cli PRIVATE VG_TEST_CUDA_BUILT=1)
    add_dependencies(test_eval_cli vigil-cuda)
endif()
vg_add_test(test_hscore SOURCES test_hscore.c LIBS vg_detectors vg_mv)
