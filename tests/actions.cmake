# Actions: the webhook is tested end to end against vigil-test-receiver in its own process.
vg_add_test(test_webhook SOURCES test_webhook.c LIBS vg_actions TIMEOUT 60 LABELS actions)
add_dependencies(test_webhook vigil-test-receiver)
