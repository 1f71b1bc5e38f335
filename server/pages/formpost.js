document.getElementById("formpost").submit();
