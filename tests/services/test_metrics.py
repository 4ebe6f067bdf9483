"""Training metrics from a job's result file: merged with what events told, never blanked."""

from finetunings import services
from finetunings.models import (
    Finetuning,
    FinetuningMetric,
)


def test_a_result_file_does_not_blank_figures_only_an_event_had(db, connection):
    job = Finetuning.objects.create(
        db_connection=connection, alias="j", model_name="gpt-4o-mini-2024-07-18"
    )
    FinetuningMetric.objects.create(finetuning=job, step=1, train_loss=1.5, valid_loss=1.7)
    content = b"step,train_loss,train_accuracy,valid_loss\n1,1.4,0.5,\n2,1.2,0.6,\n"

    assert services.finetuning_record_result_file(finetuning=job, content=content) == 2

    one, two = FinetuningMetric.objects.filter(finetuning=job)
    assert (one.train_loss, one.train_mean_token_accuracy, one.valid_loss) == (1.4, 0.5, 1.7)
    assert (two.step, two.train_loss, two.total_steps) == (2, 1.2, 2)


def test_a_result_file_that_is_not_csv_changes_nothing(db, connection):
    job = Finetuning.objects.create(
        db_connection=connection, alias="j", model_name="gpt-4o-mini-2024-07-18"
    )
    FinetuningMetric.objects.create(finetuning=job, step=1, train_loss=1.5)

    assert services.finetuning_record_result_file(finetuning=job, content=b"\x89PNG...") == 0
    assert services.finetuning_record_result_file(finetuning=job, content=b"a,b\n1,2\n") == 0

    assert list(FinetuningMetric.objects.filter(finetuning=job).values_list("train_loss")) == [
        (1.5,)
    ]
