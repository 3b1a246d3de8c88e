"""Where a certificate's renewal time comes from (the CA's ARI window or the lifetime rule), and why the last ARI
check fell back, for the certificate's page. Rows planned from an ARI window before this say so in their rule."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def sources_from_rules(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Certificate = apps.get_model("repository", "Certificate")
    Certificate.objects.filter(renewal_rule__startswith="ARI window").update(renewal_source="ari")


class Migration(migrations.Migration):
    dependencies = [("repository", "0009_certificate_key_reuse")]

    operations = [
        migrations.AddField(
            model_name="certificate",
            name="renewal_source",
            field=models.CharField(
                choices=[("lifetime", "lifetime rule"), ("ari", "CA's ARI window")], default="lifetime", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="certificate",
            name="ari_error",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.RunPython(sources_from_rules, migrations.RunPython.noop),
    ]
