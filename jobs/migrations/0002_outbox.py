# The job row as an outbox: when it was queued and when the broker took its message.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='queued_at',
            field=models.DateTimeField(blank=True, help_text='When it was last put in its queue.', null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='sent_at',
            field=models.DateTimeField(blank=True, help_text='When the broker took its message; empty while it is still to send.', null=True),
        ),
    ]
