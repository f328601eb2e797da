vg_add_test(test_config SOURCES test_config.c LIBS vg_common)
vg_add_test(test_detector SOURCES test_detector.c LIBS vg_analyzer)
vg_add_test(test_engine SOURCES test_engine.c LIBS vg_analyzer)
