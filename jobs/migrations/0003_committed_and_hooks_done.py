# A job's work committed with its result (committed_at), and its finished-hooks done
# (hooks_done_at), so the sweeper finishes a job whose worker died after its commit and runs the
# hooks of one whose worker died before them. Jobs finished before this migration count as hooked.

from django.db import migrations, models


def hooks_done_for_finished_jobs(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    Job.objects.filter(status__in=["succeeded", "failed", "cancelled"]).update(hooks_done_at=models.F("finished_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0002_outbox'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='committed_at',
            field=models.DateTimeField(blank=True, help_text='When the handler committed its work together with its result (JobContext.commit_result): the job is done even if its worker died before recording it, and never runs again.', null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='hooks_done_at',
            field=models.DateTimeField(blank=True, help_text="When the finished-hooks ran after the job's last finish; the sweeper runs them for a finished job whose worker died first.", null=True),
        ),
        migrations.AddIndex(
            model_name='job',
            index=models.Index(condition=models.Q(('hooks_done_at__isnull', True)), fields=['finished_at'], name='job_hooks_pending'),
        ),
        migrations.RunPython(hooks_done_for_finished_jobs, migrations.RunPython.noop),
    ]
