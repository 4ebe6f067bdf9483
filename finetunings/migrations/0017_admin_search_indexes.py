from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

# The admin's alias search is ``UPPER(alias::text) LIKE UPPER('%term%')`` (icontains): on
# PostgreSQL a trigram index on that expression serves it. SQLite has no trigram index:
# there the admin searches an alias by its beginning (see admin/job_search.py).
ALIAS_TRIGRAM = (
    "CREATE INDEX IF NOT EXISTS ft_alias_trigram ON finetunings_finetuning "
    "USING gin ((UPPER(alias::text)) gin_trgm_ops)"
)


def create_alias_trigram(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALIAS_TRIGRAM)


def drop_alias_trigram(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS ft_alias_trigram")


class Migration(migrations.Migration):
    dependencies = [
        ("finetunings", "0016_list_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="finetuning",
            index=models.Index(fields=["finetuning_file_id"], name="ft_file_id"),
        ),
        migrations.AddIndex(
            model_name="finetuning",
            index=models.Index(fields=["model_id"], name="ft_model_id"),
        ),
        TrigramExtension(),  # does nothing on SQLite
        migrations.RunPython(create_alias_trigram, drop_alias_trigram),
    ]
