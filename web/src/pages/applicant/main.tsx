import { render } from "preact";
import { t, useLanguage } from "../../shared/i18n";
import { Shell } from "../../shared/ui";

function Page() {
  useLanguage();
  return <Shell title={t("办事", "Services")}><p>{t("建设中", "Under construction")}</p></Shell>;
}

render(<Page />, document.getElementById("root")!);
