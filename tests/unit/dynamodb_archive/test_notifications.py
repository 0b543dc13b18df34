"""What the archive run announces on SNS: dead-lettered records, gaps and failed tables."""

from archiveflow.operators.dynamodb_archive import RecordStreamArchiveOperator


def test_the_notice_names_dead_letters_gaps_and_failed_tables():
    sample = [{"object_key": f"orders/PK_{i}.json", "event_id": f"ev{i}", "error": "KeyTooLongError: boom"}
              for i in range(20)]
    message = RecordStreamArchiveOperator.message("scheduled__1", 25, sample, ["orders: GAP in the stream archive: x"],
                                                  ["users"])
    assert "25 record(s) S3 refused for good were dead-lettered" in message and "archiveflow-dead-letter" in message
    assert "~dead-letter/" in message and "dynamodb_dead_letter_redrive" in message
    assert "orders/PK_0.json (event ev0): KeyTooLongError: boom" in message and "... and 5 more" in message
    assert "GAP: orders: GAP in the stream archive: x" in message
    assert "FAILED: table users was not archived" in message
