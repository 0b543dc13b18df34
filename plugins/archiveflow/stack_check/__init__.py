"""archiveflow_stack_check: one real round trip per service a deployment needs."""
